import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { ERROR_CODES } from '../../errors.js';
import { errorSchema } from '../errors.js';

const errorTable = Object.entries(ERROR_CODES).map(([code, { status, meaning }]) => `| \`${code}\` | ${status} | ${meaning} |`).join('\n');

export const API_INFO = {
  title: 'latent-upscale',
  description: 'Upscale Stable Diffusion images in latent space: chosen interpolation, chosen sigma schedule, fix steps.\n\n'
    + 'Every error is `{statusCode, code, error, message}`. `code` is stable: switch on it, not on the message, which is for people '
    + 'and names the field, the value and what is allowed. A failed job keeps its code in `error.code`.\n\n'
    + `| code | status | meaning |\n|---|---|---|\n${errorTable}`,
  version: '0.1.0',
};

/** OpenAPI generated from the routes' zod schemas, served at /docs (UI) and /docs/json; openapi/openapi.json is the same document. */
export async function docsPlugin(app: FastifyInstance): Promise<void> {
  // Every documented route answers errors in the one shape; said once here, not on each route.
  app.addHook('onRoute', (route) => {
    if (route.schema === undefined || route.url.startsWith('/docs')) return;
    route.schema = { ...route.schema, response: { '4xx': errorSchema, '5xx': errorSchema, ...(route.schema.response as object | undefined) } };
  });
  await app.register(swagger, { openapi: { info: API_INFO }, transform: jsonSchemaTransform });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
