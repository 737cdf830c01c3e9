import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
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

export function bearerKey(request: FastifyRequest): string | undefined {
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

/** API keys (bearer), per-key rate limits, load shedding under event-loop pressure, and CORS, as configured. */
export async function accessPlugin(app: FastifyInstance, config: Config): Promise<void> {
  if (config.corsOrigins.length > 0) {
    await app.register(cors, { origin: config.corsOrigins.includes('*') ? true : [...config.corsOrigins], exposedHeaders: ['x-seed', 'location', 'retry-after'] });
  }
  if (config.apiKeys.length > 0) {
    app.addHook('onRequest', async (request, reply) => {
      if (OPEN_ROUTES.has(request.routeOptions.url ?? '') || request.method === 'OPTIONS') return;
      if (!knownKey(config.apiKeys, bearerKey(request))) {
        await reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('UNAUTHORIZED', 'an API key is required: send Authorization: Bearer <key> (one of API_KEYS)'));
      }
    });
  }
  if (config.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: config.rateLimitPerMinute,
      timeWindow: '1 minute',
      keyGenerator: (request) => bearerKey(request) ?? request.ip,
      allowList: (request) => OPEN_ROUTES.has(request.routeOptions.url ?? ''),
      errorResponseBuilder: (_request, context) => new UserError(`rate limit: ${context.max} requests per minute per key (RATE_LIMIT_PER_MINUTE); retry in ${Math.ceil(context.ttl / 1000)} s`, 'RATE_LIMITED'),
    });
  }
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    retryAfter: 5,
    customError: OverloadedError,
    exposeStatusRoute: false,
  });
}
