import type { Backend } from '../backends/backend.js';
import type { Config } from '../config.js';
import type { SessionPool } from '../engine/session-pool.js';
import type { JobStore } from '../jobs/store.js';
import type { Metrics } from './metrics.js';

/** What the routes need, built once in app.ts and handed to each route plugin. */
export interface Services {
  readonly config: Config;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly queue: JobStore;
  readonly engine: SessionPool;
  readonly metrics: Metrics;
}
