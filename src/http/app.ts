import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import { createApiRuntime } from '../setup.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { serviceLogger, type LogDestination } from './logging.js';
import { accessPlugin } from './plugins/access.js';
import { docsPlugin } from './plugins/docs.js';
import { strictFieldsPlugin } from './plugins/strict-fields.js';
import { catalogRoutes } from './routes/catalog.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { latentRoutes } from './routes/latents.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/models.js';
import { pageRoutes } from './routes/page.js';
import { sigmaRoutes } from './routes/sigmas.js';
import { upscaleRoutes } from './routes/upscale.js';
import { keepUpload, registerJsonImageParser, UPLOADED_FILE } from './uploads.js';

export interface AppOptions {
  /** false: no log at all (tests, tools). */
  readonly logger?: false;
  /** Where the log goes instead of stdout, configured as always (level, redaction): tests read what the service writes. */
  readonly logStream?: LogDestination;
}

/** The whole service as a Fastify instance; `await app.ready()` probes the backends. */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? serviceLogger(config.logLevel, options.logStream),
    bodyLimit: config.maxBodyBytes,
    requestTimeout: 0,
    trustProxy: trustProxyOption(config.trustProxy),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  const services = await createApiRuntime(config, (message) => app.log.info(message));

  await accessPlugin(app, config);
  app.addHook('onResponse', async (request, reply) => {
    services.metrics.requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode });
  });

  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: config.maxBodyBytes, files: 1, fields: 40, fieldSize: 64 * 1024 },
    async onFile(part) {
      keepUpload(this, part.fieldname, await part.toBuffer());
      (part as unknown as { value: string }).value = UPLOADED_FILE;
    },
  });
  registerJsonImageParser(app, config.maxBodyBytes);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.maxBodyBytes }, (_request, body, done) => done(null, body));
  // Registered on the root instance itself so its onRoute hook sees every route.
  await docsPlugin(app);
  await strictFieldsPlugin(app);
  for (const routes of [upscaleRoutes, jobRoutes, catalogRoutes, sigmaRoutes, latentRoutes, modelRoutes, healthRoutes, metricsRoutes, pageRoutes]) {
    await app.register(async (scope) => routes(scope, services));
  }

  app.addHook('onReady', () => services.start());
  // Before the server stops accepting: jobs end and every event stream gets its last event, so open
  // streams do not hold the shutdown open.
  app.addHook('preClose', () => services.shutdown());
  app.addHook('onClose', () => services.close());
  return app;
}

/** Config's trustProxy as Fastify takes it: a hop count as a function of the hop (proxy-addr's form). */
function trustProxyOption(trust: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return typeof trust === 'boolean' ? trust : [...trust];
}
