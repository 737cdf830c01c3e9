import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config.js';
import { BackendError, UserError } from '../../errors.js';
import { errorBody } from '../errors.js';

class OverloadedError extends BackendError {
  constructor() {
    super('the service is overloaded (its event loop lags more than MAX_EVENT_LOOP_DELAY_MS); retry in a few seconds', 'OVERLOADED');
  }
}

/** Routes anyone may call even when API keys are set: probes, and the page shell (it asks for a key). */
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/']);

function bearerKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
}

function knownKey(keys: readonly string[], candidate: string | undefined): boolean {
  if (candidate === undefined) return false;
  const given = Buffer.from(candidate);
  return keys.some((key) => {
    const expected = Buffer.from(key);
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

/** Each request's caller, worked out once (see callerOf). */
const callers = new WeakMap<FastifyRequest, string | undefined>();

/**
 * Who the caller is, as jobs record it: a short digest of its API key, never the key itself (the owner is
 * stored in Redis and kept in memory with the job). Undefined without a known key: with API_KEYS unset
 * nobody is anybody, and jobs belong to no one.
 */
export function callerOf(request: FastifyRequest, apiKeys: readonly string[]): string | undefined {
  // The key check, the rate limit and the routes each ask; the comparison and digest are made once.
  if (callers.has(request)) return callers.get(request);
  const key = bearerKey(request);
  const caller = knownKey(apiKeys, key) ? createHash('sha256').update(key!).digest('hex').slice(0, 16) : undefined;
  callers.set(request, caller);
  return caller;
}

/** Whether the request may see what only key holders see (readiness details): anyone without API_KEYS. */
export function mayReadDetails(request: FastifyRequest, apiKeys: readonly string[]): boolean {
  return apiKeys.length === 0 || callerOf(request, apiKeys) !== undefined;
}

/** API keys (bearer), rate limits per key or address, load shedding under event-loop pressure, and CORS, as configured. */
export async function accessPlugin(app: FastifyInstance, config: Config): Promise<void> {
  if (config.corsOrigins.length > 0) {
    await app.register(cors, { origin: config.corsOrigins.includes('*') ? true : [...config.corsOrigins], exposedHeaders: ['x-seed', 'location', 'retry-after', 'server-timing'] });
  }
  if (config.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      // Not as per-route hooks, which run after app-wide ones such as the key check below, so a request
      // refused for its key was never counted: one app-wide hook instead, ahead of the key check.
      global: false,
      max: config.rateLimitPerMinute,
      timeWindow: '1 minute',
      // A made-up key must not buy a fresh budget: only a known key has its own, anything else counts
      // against the address it comes from.
      keyGenerator: (request) => {
        const caller = callerOf(request, config.apiKeys);
        return caller !== undefined ? `key:${caller}` : `address:${request.ip}`;
      },
      // Probes and the page stay unlimited, unless they come with a key: /readyz tells a key from a
      // wrong one (details or not), so guessing keys there counts like anywhere else.
      allowList: (request) => OPEN_ROUTES.has(request.routeOptions.url ?? '') && request.headers.authorization === undefined,
      errorResponseBuilder: (_request, context) => new UserError(`rate limit: ${context.max} requests per minute per key or address (RATE_LIMIT_PER_MINUTE); retry in ${Math.ceil(context.ttl / 1000)} s`, 'RATE_LIMITED'),
    });
    app.addHook('onRequest', app.rateLimit());
  }
  if (config.apiKeys.length > 0) {
    app.addHook('onRequest', async (request, reply) => {
      if (OPEN_ROUTES.has(request.routeOptions.url ?? '') || request.method === 'OPTIONS') return;
      if (callerOf(request, config.apiKeys) === undefined) {
        await reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('UNAUTHORIZED', 'an API key is required: send Authorization: Bearer <key> (one of API_KEYS)'));
      }
    });
  }
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    retryAfter: 5,
    customError: OverloadedError,
    exposeStatusRoute: false,
  });
}
