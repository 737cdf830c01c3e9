import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';

export async function metricsRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics: requests, job durations by backend and stage, queue depth, active jobs, backend health, steps per second' } }, async (_request, reply) =>
    reply.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics()));
}
