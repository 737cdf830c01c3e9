import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { STATUS_CODES } from 'node:http';
import { BackendError, UserError } from '../errors.js';

export function errorBody(status: number, message: string): { statusCode: number; error: string; message: string } {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
}

/**
 * One error shape for every route: schema violations are 400 naming each field, user errors their own
 * 4xx, backend failures 502/503/504 with the backend's message; anything else is logged and is a 500.
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const message = error.validation.map((issue) => {
      const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.') || (issue.params as { issue?: { path?: unknown[] } } | undefined)?.issue?.path?.join('.') || error.validationContext;
      return `${error.validationContext ?? 'request'}${field ? `.${field}` : ''}: ${issue.message}`;
    }).join('; ');
    void reply.code(400).send(errorBody(400, message));
    return;
  }
  if (error instanceof UserError || error instanceof BackendError) {
    if (error instanceof BackendError && error.status === 503) void reply.header('retry-after', '5');
    void reply.code(error.status).send(errorBody(error.status, error.message));
    return;
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  if (status === 500) request.log.error({ err: error }, 'unhandled error');
  void reply.code(status).send(errorBody(status, status === 500 ? 'internal error; see the service log' : error.message));
}
