import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';

export async function healthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Ready when every backend has a reachable instance and the queue has room (503 otherwise)' } }, async (_request, reply) => {
    const backends = Object.fromEntries([...services.backends].map(([name, backend]) => [name, backend.status()]));
    const load = await services.queue.load();
    const ready = !load.full && Object.values(backends).every((b) => b.ready);
    return reply.code(ready ? 200 : 503).send({ ready, queue: { waiting: load.waiting, running: load.running, full: load.full }, backends });
  });
}
