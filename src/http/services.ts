import type { ApiRuntime } from '../setup.js';

/** What the routes need: the API runtime (config, job service, engine, metrics), handed to each route plugin. */
export type Services = ApiRuntime;
