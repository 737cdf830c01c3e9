import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

export const API_INFO = {
  title: 'latent-upscale',
  description: 'Upscale Stable Diffusion images in latent space: chosen interpolation, chosen sigma schedule, fix steps. '
    + 'Errors are {statusCode, error, message}; 400 = the request does not match the schema, 413 = too large, '
    + '422 = well-formed but not possible (the message lists what is allowed), 502/503/504 = the backend failed, was unreachable or too slow.',
  version: '0.1.0',
};

/** OpenAPI generated from the routes' zod schemas, served at /docs (UI) and /docs/json; openapi/openapi.json is the same document. */
export async function docsPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, { openapi: { info: API_INFO }, transform: jsonSchemaTransform });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
