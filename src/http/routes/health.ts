import type { FastifyInstance } from 'fastify';
import { mayReadDetails } from '../plugins/access.js';
import type { Services } from '../services.js';

export async function healthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { summary: 'Ready when every backend has a usable unit (in Redis mode: on a live worker), the job store answers and the queue has room (503 otherwise)' },
  }, async (request, reply) => {
    const readiness = await services.jobs.readiness();
    const status = readiness.ready ? 200 : 503;
    // Open to probes, but instance URLs, model paths and errors map the deployment: with API_KEYS set,
    // a request without a key learns only whether the service is ready.
    if (!mayReadDetails(request, services.config.apiKeys)) return reply.code(status).send({ ready: readiness.ready });
    const backends = Object.fromEntries(Object.entries(readiness.backends).map(([name, snapshot]) => [name, {
      ready: snapshot.ready,
      units: snapshot.units.map((unit) => ({ ...unit, a1111: undefined })),
    }]));
    return reply.code(status).send({ ...readiness, backends });
  });
}
