import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
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

/** The documented error answer: JSON whatever the route produces when it succeeds (a PNG, a latent, SSE). */
const errorResponse = { description: 'An error (see the code table above)', content: { 'application/json': { schema: z.toJSONSchema(errorSchema, { target: 'draft-7' }) } } };

/** OpenAPI generated from the routes' zod schemas, served at /docs (UI) and /docs/json; openapi/openapi.json is the same document. */
export async function docsPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: { info: API_INFO },
    // Every route answers errors in the one shape: documented here, not on each route (where a response
    // schema would also bind the serializer of, say, /readyz's 503).
    transform: (route) => {
      const transformed = jsonSchemaTransform(route);
      const schema = transformed.schema as { response?: Record<string, unknown> } | undefined;
      if (schema === undefined) return transformed;
      return { ...transformed, schema: { ...schema, response: { '4XX': errorResponse, '5XX': errorResponse, ...schema.response } } };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
