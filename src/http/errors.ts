import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { BackendError, ERROR_CODE_NAMES, statusOf, UserError, type ErrorCode } from '../errors.js';

export interface ErrorBody {
  readonly statusCode: number;
  readonly code: ErrorCode;
  readonly error: string;
  readonly message: string;
}

export const errorSchema = z.object({
  statusCode: z.number(),
  code: z.enum(ERROR_CODE_NAMES).describe('Stable and machine-readable: switch on this, not on message (see the README\'s error table).'),
  error: z.string().describe('The HTTP status text.'),
  message: z.string().describe('For people: names the field, the value and what is allowed.'),
});

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  const status = statusOf(code);
  return { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message };
}

/** Errors raised by Fastify and its plugins before a handler runs, by their own codes. */
const FRAMEWORK_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_FILES_LIMIT: 'BODY_TOO_LARGE',
  FST_FIELDS_LIMIT: 'BODY_TOO_LARGE',
  FST_PARTS_LIMIT: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
};

/** A framework error without a code of its own, by its status. */
const CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = { 400: 'INVALID_REQUEST', 404: 'NOT_FOUND', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED' };

function frameworkCode(error: FastifyError): ErrorCode {
  const known = error.code === undefined ? undefined : FRAMEWORK_CODES[error.code];
  if (known !== undefined) return known;
  if (error instanceof SyntaxError) return 'INVALID_JSON';
  return (error.statusCode !== undefined ? CODE_BY_STATUS[error.statusCode] : undefined) ?? 'INVALID_REQUEST';
}

function validationMessage(error: FastifyError & { validation: NonNullable<FastifyError['validation']> }): string {
  return error.validation.map((issue) => {
    const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.') || (issue.params as { issue?: { path?: unknown[] } } | undefined)?.issue?.path?.join('.') || '';
    return `${error.validationContext ?? 'request'}${field ? `.${field}` : ''}: ${issue.message}`;
  }).join('; ');
}

/**
 * One error shape for every route ({statusCode, code, error, message}): schema violations are 400 naming
 * each field, service errors answer with their code's status, framework errors (body too large, bad
 * JSON) with theirs; anything else is logged and is a 500.
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(error)) {
    send(reply, 'INVALID_REQUEST', validationMessage(error));
    return;
  }
  if (error instanceof UserError || error instanceof BackendError) {
    send(reply, error.code, error.message);
    return;
  }
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) {
    request.log.error({ err: error }, 'unhandled error');
    send(reply, 'INTERNAL_ERROR', 'internal error; see the service log');
    return;
  }
  send(reply, frameworkCode(error), error.message);
}

function send(reply: FastifyReply, code: ErrorCode, message: string): void {
  // A 503 says when to come back.
  if (statusOf(code) === 503 && !reply.hasHeader('retry-after')) void reply.header('retry-after', '5');
  void reply.code(statusOf(code)).send(errorBody(code, message));
}

/** The answer for routes that do not exist. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  send(reply, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]} (see GET /docs)`);
}
