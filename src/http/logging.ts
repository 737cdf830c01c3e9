import type { FastifyLoggerOptions, FastifyRequest } from 'fastify';
import { CENSOR, withoutQuerySecrets } from '../redaction.js';

/**
 * Object paths pino censors: API keys and A1111 or Redis credentials must never reach the log. Requests
 * are logged without their headers (requestForLog), so keys in Authorization never get this far.
 */
const REDACTED_PATHS = ['headers.authorization', '*.password', '*.apiKeys', '*.redisUrl', 'config.a1111[*].password'];

/** Where log lines go: stdout unless given (pino writes one JSON line per call). */
export interface LogDestination {
  write(line: string): void;
}

/** Fastify's own request fields, with the URL's credential-like query parameters censored (`?api_key=…`). */
function requestForLog(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? withoutQuerySecrets(request.url) : undefined,
    version: request.headers?.['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The service's logger: level, censored paths, request serializer; to stdout unless a stream is given. */
export function serviceLogger(level: string, stream?: LogDestination): FastifyLoggerOptions & { redact: { paths: string[]; censor: string } } {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    serializers: { req: requestForLog },
    ...(stream !== undefined ? { stream } : {}),
  };
}
