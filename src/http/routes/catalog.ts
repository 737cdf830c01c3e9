import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { UPSCALE_METHODS } from '../../interpolation/methods.js';
import { SAMPLERS } from '../../samplers/catalog.js';
import { SCHEDULERS } from '../../schedules/schedulers.js';
import { rulesFor, type Offer } from '../../backends/rules.js';
import type { Services } from '../services.js';

const entry = z.object({ name: z.string(), description: z.string() }).catchall(z.unknown());
const catalogSchema = z.object({
  items: z.array(entry).describe('Everything the service knows'),
  backends: z.record(z.string(), z.array(z.string())).describe('Per backend, the names its healthy units (in Redis mode: on live workers) support now'),
});

/** GET /methods, /schedulers, /samplers: the registry, plus what each backend can run right now. */
export async function catalogRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const perBackend = async (pick: keyof Offer): Promise<Record<string, string[]>> =>
    Object.fromEntries((await services.jobs.snapshots()).map((snapshot) => [snapshot.backend, [...rulesFor(snapshot.backend).offers(snapshot)[pick]]]));

  routes.get('/methods', { schema: { summary: 'Latent upscale methods', response: { 200: catalogSchema } } }, async () => ({
    items: UPSCALE_METHODS.map((m) => ({ name: m.name, description: m.description, ...(m.aliasOf ? { alias_of: m.aliasOf } : {}) })),
    backends: await perBackend('methods'),
  }));

  routes.get('/schedulers', { schema: { summary: 'Sigma schedulers (our names; A1111 labels are accepted too)', response: { 200: catalogSchema } } }, async () => ({
    items: SCHEDULERS.map((s) => ({ name: s.name, description: s.description, a1111_label: s.label ?? null })),
    backends: await perBackend('schedulers'),
  }));

  routes.get('/samplers', { schema: { summary: 'Samplers and their A1111 labels, mapped both ways', response: { 200: catalogSchema } } }, async () => ({
    items: SAMPLERS.map((s) => ({ name: s.name, description: s.description, a1111_label: s.label, automatic_scheduler: s.automaticScheduler })),
    backends: await perBackend('samplers'),
  }));
}
