import { z } from 'zod';
import { parseProviders } from './engine/session-pool.js';
import { withoutCredentials } from './redaction.js';

/** Every environment variable the service reads, with its default; README "Configuration" lists them. */
const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  A1111_URLS: z.string().default('http://127.0.0.1:7860'),
  A1111_TIMEOUT_SECONDS: z.coerce.number().positive().default(600),
  A1111_PROBE_TIMEOUT_SECONDS: z.coerce.number().positive().default(10),
  A1111_STALL_SECONDS: z.coerce.number().positive().default(120),
  A1111_MAX_FAILURES: z.coerce.number().int().min(1).default(3),
  A1111_CHECK_PIXELS: z.enum(['true', 'false']).default('false'),
  A1111_QUEUE_DEPTH: z.coerce.number().int().min(1).max(2).default(1),
  HEALTH_CHECK_INTERVAL_SECONDS: z.coerce.number().positive().default(15),
  PROGRESS_INTERVAL_MS: z.coerce.number().int().min(50).default(500),
  MAX_QUEUE: z.coerce.number().int().min(1).default(100),
  RESULT_TTL_SECONDS: z.coerce.number().positive().default(3600),
  RESULT_STORE_MB: z.coerce.number().positive().default(1024),
  MAX_BODY_MB: z.coerce.number().positive().default(50),
  MAX_INPUT_MEGAPIXELS: z.coerce.number().positive().default(16),
  MAX_OUTPUT_MEGAPIXELS: z.coerce.number().positive().default(16),
  EXECUTION_PROVIDERS: z.string().default('cpu'),
  BACKENDS: z.string().optional(),
  MODELS_DIR: z.string().optional(),
  MODELS_CACHE_DIR: z.string().optional(),
  MODELS_CACHE_PRECISION: z.enum(['fp16', 'fp32']).default('fp16'),
  ONNX_INTRA_OP_THREADS: z.coerce.number().int().min(0).default(0),
  ONNX_CONCURRENCY: z.coerce.number().int().min(1).default(1),
  ONNX_WARMUP: z.enum(['true', 'false']).default('true'),
  VAE_TILE_SIZE: z.coerce.number().int().min(8).default(96),
  VAE_TILE_OVERLAP: z.coerce.number().int().min(0).default(16),
  API_KEYS: z.string().default(''),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(0),
  CORS_ORIGINS: z.string().default(''),
  TRUST_PROXY: z.string().default(''),
  MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  REDIS_URL: z.string().optional(),
  REDIS_TIMEOUT_MS: z.coerce.number().int().min(50).default(2000),
  WORKER_LOCK_SECONDS: z.coerce.number().positive().default(30),
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

/** Every variable loadConfig reads (the README table and the Docker files are checked against it). */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.keys(environmentSchema.shape);

export const BACKEND_NAMES = ['a1111', 'onnx'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface A1111Endpoint {
  /** Base URL without credentials or trailing slash. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  readonly a1111: readonly A1111Endpoint[];
  readonly a1111TimeoutMs: number;
  readonly a1111ProbeTimeoutMs: number;
  /** A job whose A1111 step has not moved for this long is interrupted and moved to another instance. */
  readonly a1111StallMs: number;
  /** Failed jobs in a row that take an instance out of service for a while. */
  readonly a1111MaxFailures: number;
  readonly a1111CheckPixels: boolean;
  /** Our jobs at one A1111 at once: the running one, and with 2 the next waiting at its queue. */
  readonly a1111QueueDepth: number;
  readonly healthCheckIntervalMs: number;
  readonly progressIntervalMs: number;
  readonly maxQueue: number;
  readonly resultTtlMs: number;
  /** In-process jobs: finished results kept in memory past this many bytes expire oldest first. */
  readonly resultStoreBytes: number;
  readonly maxBodyBytes: number;
  readonly maxInputMegapixels: number;
  readonly maxOutputMegapixels: number;
  readonly executionProviders: ReturnType<typeof parseProviders>;
  /** Enabled backends, the first being the default for requests that name none. */
  readonly backends: readonly BackendName[];
  readonly modelsDir: string | undefined;
  /** Where .safetensors checkpoints in MODELS_DIR are converted to; undefined: a hidden folder inside MODELS_DIR. */
  readonly modelsCacheDir: string | undefined;
  /** Storage precision of those conversions: fp16 halves the disk, fp32 halves session creation time and saves a third of the memory (bench/models). */
  readonly modelsCachePrecision: 'fp16' | 'fp32';
  readonly onnxIntraOpThreads: number;
  readonly onnxConcurrency: number;
  readonly onnxWarmup: boolean;
  readonly vaeTileSize: number;
  readonly vaeTileOverlap: number;
  /** Bearer tokens; empty means no authentication. */
  readonly apiKeys: readonly string[];
  readonly rateLimitPerMinute: number;
  readonly corsOrigins: readonly string[];
  /** Fastify's trustProxy: whose X-Forwarded-For gives the client address (rate limits, logs). */
  readonly trustProxy: boolean | number | readonly string[];
  readonly maxEventLoopDelayMs: number;
  /** Set: jobs go through Redis (BullMQ) to `latent-upscale worker` processes instead of running here. */
  readonly redisUrl: string | undefined;
  /** Longest wait for one Redis exchange in a request; past it the request answers 503. */
  readonly redisTimeoutMs: number;
  /** How long a worker's claim on a job lasts without renewal; a dead worker's job is retried after it. */
  readonly workerLockMs: number;
  /** A worker serves its own /metrics here when set. */
  readonly workerMetricsPort: number | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and checks the environment; every problem is named with its variable, all at once. */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const env = parsed.data;
  let providers;
  try {
    providers = parseProviders(env.EXECUTION_PROVIDERS);
  } catch (error) {
    throw new ConfigError(`invalid configuration: EXECUTION_PROVIDERS: ${(error as Error).message}`);
  }
  const backends = parseBackends(env.BACKENDS ?? (env.MODELS_DIR !== undefined && environment['A1111_URLS'] === undefined ? 'onnx' : 'a1111'));
  if (backends.includes('onnx') && env.MODELS_DIR === undefined) {
    throw new ConfigError('invalid configuration: MODELS_DIR: the onnx backend needs a models folder (see `latent-upscale make-test-model`)');
  }
  if (env.VAE_TILE_OVERLAP * 2 >= env.VAE_TILE_SIZE) {
    throw new ConfigError(`invalid configuration: VAE_TILE_OVERLAP: ${env.VAE_TILE_OVERLAP} must be under half of VAE_TILE_SIZE (${env.VAE_TILE_SIZE})`);
  }
  return {
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    a1111: parseA1111Urls(env.A1111_URLS),
    a1111TimeoutMs: env.A1111_TIMEOUT_SECONDS * 1000,
    a1111ProbeTimeoutMs: env.A1111_PROBE_TIMEOUT_SECONDS * 1000,
    a1111StallMs: env.A1111_STALL_SECONDS * 1000,
    a1111MaxFailures: env.A1111_MAX_FAILURES,
    a1111CheckPixels: env.A1111_CHECK_PIXELS === 'true',
    a1111QueueDepth: env.A1111_QUEUE_DEPTH,
    healthCheckIntervalMs: env.HEALTH_CHECK_INTERVAL_SECONDS * 1000,
    progressIntervalMs: env.PROGRESS_INTERVAL_MS,
    maxQueue: env.MAX_QUEUE,
    resultTtlMs: env.RESULT_TTL_SECONDS * 1000,
    resultStoreBytes: Math.round(env.RESULT_STORE_MB * 1024 * 1024),
    maxBodyBytes: Math.round(env.MAX_BODY_MB * 1024 * 1024),
    maxInputMegapixels: env.MAX_INPUT_MEGAPIXELS,
    maxOutputMegapixels: env.MAX_OUTPUT_MEGAPIXELS,
    executionProviders: providers,
    backends,
    modelsDir: env.MODELS_DIR,
    modelsCacheDir: env.MODELS_CACHE_DIR,
    modelsCachePrecision: env.MODELS_CACHE_PRECISION,
    onnxIntraOpThreads: env.ONNX_INTRA_OP_THREADS,
    onnxConcurrency: env.ONNX_CONCURRENCY,
    onnxWarmup: env.ONNX_WARMUP === 'true',
    vaeTileSize: env.VAE_TILE_SIZE,
    vaeTileOverlap: env.VAE_TILE_OVERLAP,
    apiKeys: splitList(env.API_KEYS),
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    corsOrigins: splitList(env.CORS_ORIGINS),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    redisUrl: env.REDIS_URL,
    redisTimeoutMs: env.REDIS_TIMEOUT_MS,
    workerLockMs: env.WORKER_LOCK_SECONDS * 1000,
    workerMetricsPort: env.WORKER_METRICS_PORT,
  };
}

function splitList(text: string): string[] {
  return [...new Set(text.split(',').map((item) => item.trim()).filter((item) => item.length > 0))];
}

function parseBackends(text: string): BackendName[] {
  const names = splitList(text.toLowerCase());
  for (const name of names) {
    if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
      throw new ConfigError(`invalid configuration: BACKENDS: unknown backend '${name}' (allowed: ${BACKEND_NAMES.join(', ')})`);
    }
  }
  if (names.length === 0) throw new ConfigError(`invalid configuration: BACKENDS: name at least one of ${BACKEND_NAMES.join(', ')}`);
  return names as BackendName[];
}

/** "http://user:pass@host:7860,http://host2:7861": credentials in the URL become A1111 --api-auth basic auth. */
export function parseA1111Urls(text: string): A1111Endpoint[] {
  const endpoints = text.split(',').map((part) => part.trim()).filter((part) => part.length > 0).map((part) => {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      // Quoted without its credentials: this message goes to the terminal and the container log.
      throw new ConfigError(`invalid configuration: A1111_URLS: '${withoutCredentials(part)}' is not a URL (e.g. http://127.0.0.1:7860)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`invalid configuration: A1111_URLS: '${withoutCredentials(part)}' must be http or https`);
    }
    // A password alone is credentials too: A1111 splits --api-auth entries at ':' (modules/api/api.py), so
    // `--api-auth :secret` makes the empty name a user.
    const credentials = url.username !== '' || url.password !== '' ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {};
    url.username = '';
    url.password = '';
    return { url: url.toString().replace(/\/+$/, ''), ...credentials };
  });
  if (endpoints.length === 0) throw new ConfigError('invalid configuration: A1111_URLS: give at least one URL');
  return endpoints;
}

/**
 * TRUST_PROXY: empty (the default) trusts no proxy, so the client address is the peer's; `true` trusts
 * every hop; a number, that many hops; otherwise a comma-separated list of proxy addresses or CIDRs.
 * Behind a gateway without it, every caller shares the gateway's address and so one rate-limit budget.
 */
function parseTrustProxy(value: string): boolean | number | string[] {
  const text = value.trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text);
  return splitList(text);
}
