import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { createBackends } from '../backends/create.js';
import type { Backend } from '../backends/backend.js';
import type { Config } from '../config.js';
import { SessionPool } from '../engine/session-pool.js';
import { JobQueue } from '../jobs/queue.js';
import { finishUpscale } from '../upscale/prepare.js';
import { errorHandler } from './errors.js';
import { Metrics } from './metrics.js';
import { accessPlugin } from './plugins/access.js';
import { metricsRoutes } from './routes/metrics.js';
import { pageRoutes } from './routes/page.js';
import type { JobObserver } from '../jobs/queue.js';
import type { JobStore } from '../jobs/store.js';
import { RemoteBackend } from '../jobs/redis/remote-backend.js';
import { RedisJobStore } from '../jobs/redis/store.js';
import { docsPlugin } from './plugins/docs.js';
import { catalogRoutes } from './routes/catalog.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { latentRoutes } from './routes/latents.js';
import { modelRoutes } from './routes/models.js';
import { sigmaRoutes } from './routes/sigmas.js';
import { upscaleRoutes } from './routes/upscale.js';
import type { Services } from './services.js';

export interface AppOptions {
  /** Replaces the backends built from the config (tests). */
  readonly backends?: ReadonlyMap<string, Backend>;
  readonly logger?: boolean | FastifyServerOptions['logger'];
}

export const REDACTED = ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', '*.password', '*.apiKeys', 'config.a1111[*].password'];

/** The whole service as a Fastify instance; `await app.ready()` probes the backends. */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // API keys and A1111 credentials must never reach the log.
    logger: options.logger ?? { level: config.logLevel, redact: { paths: REDACTED, censor: '[redacted]' } },
    bodyLimit: config.maxBodyBytes,
    requestTimeout: 0,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);

  const engine = new SessionPool({ providers: config.executionProviders, intraOpThreads: config.onnxIntraOpThreads });
  // With REDIS_URL the backends run in `latent-upscale worker` processes and this node only stands in for them.
  const redis = config.redisUrl === undefined ? undefined : new RedisJobStore({
    redisUrl: config.redisUrl, backends: config.backends, maxQueued: config.maxQueue, resultTtlMs: config.resultTtlMs, finish: finishUpscale,
    observer: { ended: (job) => observer.ended(job) },
  });
  const backends = options.backends ?? (redis
    ? new Map<string, Backend>(config.backends.map((name) => [name, new RemoteBackend(name, () => redis, config.healthCheckIntervalMs)]))
    : createBackends(config, engine, (message) => app.log.info(message)));
  // The metrics read the queue lazily, at scrape time; the queue reports to the metrics.
  const metrics: Metrics = new Metrics((): JobStore => queue, backends);
  const observer = jobObserver(metrics);
  const queue: JobStore = redis ?? new JobQueue(backends, { maxQueued: config.maxQueue, resultTtlMs: config.resultTtlMs, finish: finishUpscale, observer });
  const services: Services = { config, backends, queue, engine, metrics };

  await accessPlugin(app, config);
  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode });
  });

  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: config.maxBodyBytes, files: 1, fields: 40, fieldSize: 64 * 1024 },
    // The file becomes base64 text so multipart and JSON bodies validate against one schema.
    async onFile(part) {
      (part as unknown as { value: string }).value = (await part.toBuffer()).toString('base64');
    },
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.maxBodyBytes }, (_request, body, done) => done(null, body));
  // Registered on the root instance itself so its onRoute hook sees every route.
  await docsPlugin(app);
  for (const routes of [upscaleRoutes, jobRoutes, catalogRoutes, sigmaRoutes, latentRoutes, modelRoutes, healthRoutes, metricsRoutes, pageRoutes]) {
    await app.register(async (scope) => routes(scope, services));
  }

  app.addHook('onReady', async () => {
    await Promise.all([...backends.values()].map((b) => b.start()));
  });
  app.addHook('onClose', async () => {
    await queue.close();
    await Promise.all([...backends.values()].map((b) => b.stop()));
    await engine.release();
  });
  return app;
}

/** Job metrics: total time and outcome per backend, each stage's time, sampling speed. */
function jobObserver(metrics: Metrics): JobObserver {
  return {
    stage: (job, stage, seconds) => metrics.jobDuration.observe({ backend: job.backend, stage }, seconds),
    ended(job) {
      metrics.jobs.inc({ backend: job.backend, outcome: job.state });
      if (job.state !== 'succeeded' || job.startedAt === undefined) return;
      const seconds = (job.finishedAt!.getTime() - job.startedAt.getTime()) / 1000;
      metrics.jobDuration.observe({ backend: job.backend, stage: 'total' }, seconds);
      metrics.steps.inc({ backend: job.backend }, job.steps);
      if (seconds > 0) metrics.stepsPerSecond.set({ backend: job.backend }, job.steps / seconds);
    },
  };
}
