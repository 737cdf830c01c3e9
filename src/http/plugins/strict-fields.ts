import type { FastifyInstance, FastifyRequest, preValidationHookHandler } from 'fastify';
import { z } from 'zod';
import { A1111_FIELD_MEANINGS, A1111_FIELDS_NOT_OFFERED } from '../../backends/a1111/field-names.js';
import { UserError } from '../../errors.js';

const snakeCase = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

/** What an unknown field probably meant, for the error message. */
function hint(field: string, known: readonly string[]): string | undefined {
  // Own keys only: every object has a `constructor`, and a caller may send one.
  const meant = Object.hasOwn(A1111_FIELD_MEANINGS, field) ? A1111_FIELD_MEANINGS[field]! : undefined;
  if (meant !== undefined) return `an A1111 name; here it is ${known.includes(meant) ? `'${meant}'` : meant}`;
  if (A1111_FIELDS_NOT_OFFERED.includes(field)) return 'an A1111 field with no counterpart here';
  const close = known.find((name) => name === snakeCase(field) || name.toLowerCase() === field.toLowerCase());
  return close === undefined ? undefined : `did you mean '${close}'?`;
}

/** Refuses (400 UNKNOWN_FIELD) the fields of `value` that are not in `known`, naming each with a hint. */
export function refuseUnknownFields(value: unknown, known: readonly string[], where: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const unknown = Object.keys(value).filter((field) => !known.includes(field));
  if (unknown.length === 0) return;
  const named = unknown.map((field) => {
    const meant = hint(field, known);
    return `unknown field '${field}'${meant === undefined ? '' : ` (${meant})`}`;
  });
  throw new UserError(`${where}: ${named.join('; ')}; allowed: ${known.join(', ')}`, 'UNKNOWN_FIELD');
}

/**
 * Every route whose body or query string is a zod object refuses fields it does not take, instead of
 * ignoring them: a caller who sends A1111's `denoising_strength` must not silently get the default
 * denoise. Multipart form fields arrive in the body, so they are checked the same way.
 */
export async function strictFieldsPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('onRoute', (route) => {
    const checks: ((request: FastifyRequest) => void)[] = [];
    const body: unknown = route.schema?.body;
    const query: unknown = route.schema?.querystring;
    if (body instanceof z.ZodObject) {
      const known = Object.keys(body.shape);
      checks.push((request) => refuseUnknownFields(request.body, known, 'body'));
    }
    if (query instanceof z.ZodObject) {
      const known = Object.keys(query.shape);
      checks.push((request) => refuseUnknownFields(request.query, known, 'querystring'));
    }
    if (checks.length === 0) return;
    const check: preValidationHookHandler = async (request) => {
      for (const run of checks) run(request);
    };
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [...existing, check];
  });
}
