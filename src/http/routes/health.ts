import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { mayReadDetails } from '../plugins/access.js';
import type { Services } from '../services.js';

const unitSchema = z.object({
  target: z.string().describe('An A1111 URL (without credentials) or an onnx model'),
  healthy: z.boolean(),
  busy: z.boolean(),
  mode: z.string().optional(),
  error: z.string().optional(),
  warning: z.string().optional().describe('Usable, but something to know: an A1111 whose settings lack keys we override, which it then never restores'),
  worker: z.string().optional().describe('Redis mode: the worker process it belongs to'),
});

/** 200 and 503 alike; without a key (when API_KEYS is set) only `ready`. */
const readinessSchema = z.object({
  ready: z.boolean(),
  queue: z.object({ waiting: z.number(), running: z.number(), full: z.boolean() }).optional(),
  backends: z.record(z.string(), z.object({ ready: z.boolean(), units: z.array(unitSchema) })).optional(),
  error: z.string().optional().describe('Why readiness could not be read (the job store did not answer)'),
}).describe('Whether the service is ready; the details need a key when API_KEYS is set');

export async function healthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.withTypeProvider<ZodTypeProvider>().get('/readyz', {
    schema: {
      summary: 'Ready when every backend has a usable unit (in Redis mode: on a live worker), the job store answers and the queue has room (503 otherwise)',
      response: { 200: readinessSchema, 503: readinessSchema },
    },
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
