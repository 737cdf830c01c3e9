import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';

export async function healthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { summary: 'Ready when every backend has a usable unit (in Redis mode: on a live worker), the job store answers and the queue has room (503 otherwise)' },
  }, async (_request, reply) => {
    const readiness = await services.jobs.readiness();
    const backends = Object.fromEntries(Object.entries(readiness.backends).map(([name, snapshot]) => [name, {
      ready: snapshot.ready,
      units: snapshot.units.map((unit) => ({ ...unit, a1111: undefined })),
    }]));
    return reply.code(readiness.ready ? 200 : 503).send({ ...readiness, backends });
  });
}
