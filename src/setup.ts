import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Backend } from './backends/backend.js';
import { createBackends } from './backends/create.js';
import type { Config } from './config.js';
import { SessionPool } from './engine/session-pool.js';
import { Metrics } from './http/metrics.js';
import { MemoryTransport } from './jobs/memory/transport.js';
import type { RunningWorkers } from './jobs/redis/worker.js';
import { JobService } from './jobs/service.js';
import type { JobObserver } from './jobs/runner.js';
import type { JobTransport } from './jobs/transport.js';

/** What one process runs: the job service (API nodes), its own backends (unless they run on workers), metrics. */
export interface Runtime {
  readonly config: Config;
  /** Backends running in this process: all of them without Redis, none on a Redis API node. */
  readonly backends: ReadonlyMap<string, Backend>;
  readonly engine: SessionPool;
  readonly metrics: Metrics;
  start(): Promise<void>;
  /** Stops taking work and ends what is in hand (in-process jobs fail; workers hand theirs back if slow). */
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

export interface ApiRuntime extends Runtime {
  readonly jobs: JobService;
}

/** How long a waiting job may find no unit able to run it before it fails: a few health checks. */
const UNAVAILABLE_CHECKS = 3;

/**
 * The one set-up of every process. `npm start` builds the API role: jobs run here on this process's
 * backends, or (REDIS_URL) wait in Redis for workers. `latent-upscale worker` builds the worker role.
 * The Redis modules are imported only where Redis is used: bullmq and ioredis are ~5 MB of heap, which
 * every full collection of a single-node service would otherwise mark again.
 */
export async function createApiRuntime(config: Config, log: (message: string) => void): Promise<ApiRuntime> {
  const engine = new SessionPool({ providers: config.executionProviders, intraOpThreads: config.onnxIntraOpThreads });
  const backends: ReadonlyMap<string, Backend> = config.redisUrl === undefined ? createBackends(config, engine, log) : new Map();
  const metrics = new Metrics();
  const transport = config.redisUrl === undefined
    ? new MemoryTransport(backends, { resultTtlMs: config.resultTtlMs, resultStoreBytes: config.resultStoreBytes, observer: jobObserver(metrics, log) })
    : await redisTransport(config, config.redisUrl, jobObserver(metrics, log));
  const service = new JobService(transport, config.backends, {
    maxQueued: config.maxQueue,
    checkIntervalMs: Math.min(config.healthCheckIntervalMs, 1000),
    unavailableGraceMs: UNAVAILABLE_CHECKS * config.healthCheckIntervalMs,
  });
  metrics.track({ snapshots: () => service.snapshots(), load: () => transport.load() });
  return {
    config, backends, engine, metrics, jobs: service,
    async start() {
      await Promise.all([...backends.values()].map((b) => b.start()));
      service.start();
    },
    shutdown: () => service.shutdown(),
    async close() {
      await service.close();
      await Promise.all([...backends.values()].map((b) => b.stop()));
      await engine.release();
    },
  };
}

export function createWorkerRuntime(config: Config & { readonly redisUrl: string }, log: (message: string) => void): Runtime {
  const engine = new SessionPool({ providers: config.executionProviders, intraOpThreads: config.onnxIntraOpThreads });
  const backends = createBackends(config, engine, log);
  const metrics = new Metrics();
  metrics.track({ snapshots: async () => [...backends.values()].map((b) => b.snapshot()) });
  let workers: RunningWorkers | undefined;
  let server: Server | undefined;
  return {
    config, backends, engine, metrics,
    async start() {
      const { startWorkers } = await import('./jobs/redis/worker.js');
      workers = await startWorkers({
        redisUrl: config.redisUrl, workerId: `${hostname()}-${process.pid}`, backends, lockMs: config.workerLockMs,
        resultTtlMs: config.resultTtlMs, heartbeatMs: Math.min(config.healthCheckIntervalMs, 5000), observer: jobObserver(metrics, log), log,
      });
      if (config.workerMetricsPort !== undefined) server = await serveMetrics(metrics, config.host, config.workerMetricsPort, log);
    },
    async shutdown() {
      await workers?.close();
    },
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await engine.release();
    },
  };
}

/** The Redis transport, whose module (with bullmq and ioredis) is loaded here and nowhere else in the API role. */
async function redisTransport(config: Config, redisUrl: string, observer: JobObserver): Promise<JobTransport> {
  const { RedisTransport } = await import('./jobs/redis/transport.js');
  return new RedisTransport({ redisUrl, backends: config.backends, resultTtlMs: config.resultTtlMs, timeoutMs: config.redisTimeoutMs, observer });
}

/** Jobs as the metrics count them, and bugs inside a job logged with their stack. */
function jobObserver(metrics: Metrics, log: (message: string) => void): JobObserver {
  return {
    ...metrics.observer(),
    bug: (job, error) => log(`job ${job.id} failed on an internal error: ${(error as Error).stack ?? String(error)}`),
  };
}

/** A worker's Prometheus target: one per process, as Prometheus expects. */
async function serveMetrics(metrics: Metrics, host: string, port: number, log: (message: string) => void): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    void metrics.registry.metrics().then((text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const address = server.address();
  log(`worker: metrics at http://${host}:${typeof address === 'object' && address ? address.port : port}/metrics`);
  return server;
}
