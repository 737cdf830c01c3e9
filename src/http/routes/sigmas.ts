import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sigmaPlotSvg } from '../../plots/sigma-svg.js';
import { DEFAULT_SAMPLER } from '../../samplers/catalog.js';
import { img2imgSchedule, MAX_STEPS } from '../../schedules/img2img-steps.js';
import { chooseSampler } from '../../schedules/sampler-choice.js';
import { sigmaTableNamed } from '../../schedules/sigma-table.js';
import { booleanField, DEFAULT_SCHEDULER } from '../../upscale/parameters.js';

const sigmasQuery = z.object({
  scheduler: z.string().optional().describe(`Default ${DEFAULT_SCHEDULER}, or the one a combined sampler label names`),
  steps: z.coerce.number().int().min(1).max(MAX_STEPS).default(30),
  denoise: z.coerce.number().gt(0).max(1).default(0.5),
  fix_steps: booleanField(true),
  sampler: z.string().default(DEFAULT_SAMPLER).describe('Our name, A1111 label, or a combined label such as "DPM++ 2M Karras"'),
  table: z.string().default('sd1').describe('sd1 (SD 1.x/2.x) or sdxl'),
  scale: z.enum(['linear', 'log']).default('linear').describe('The SVG plot\'s σ axis'),
});

const sigmasResponse = z.object({
  sigmas: z.array(z.number()).describe('What the sampler runs: first = starting sigma, last = 0'),
  full_sigmas: z.array(z.number()).describe('The whole schedule the sampled part is cut from'),
  scheduler: z.string(),
  sampler: z.string(),
  steps_run: z.number(),
  schedule_steps: z.number(),
});

export async function sigmaRoutes(app: FastifyInstance): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/sigmas', {
    schema: {
      summary: 'The img2img sigma schedule as JSON, or as an SVG plot with Accept: image/svg+xml',
      querystring: sigmasQuery,
      produces: ['application/json', 'image/svg+xml'],
      response: { 200: sigmasResponse },
    },
  }, async (request, reply) => {
    const q = request.query;
    const choice = chooseSampler(q.sampler, q.scheduler, DEFAULT_SCHEDULER);
    const schedule = img2imgSchedule({
      scheduler: choice.scheduler, steps: q.steps, denoise: q.denoise, fixSteps: q.fix_steps, sampler: choice.sampler.name, table: sigmaTableNamed(q.table),
    });
    if ((request.headers.accept ?? '').includes('image/svg+xml')) {
      const title = `${schedule.scheduler}, ${q.steps} steps, denoise ${q.denoise}, fix steps ${q.fix_steps ? 'on' : 'off'} (${schedule.sampler})`;
      // A string body with its own content type is sent as is, past the JSON serializer.
      const svg = sigmaPlotSvg({ fullSigmas: schedule.fullSigmas, sampledSigmas: schedule.sigmas, title, log: q.scale === 'log' });
      return reply.type('image/svg+xml').send(svg as never);
    }
    return {
      sigmas: schedule.sigmas,
      full_sigmas: schedule.fullSigmas,
      scheduler: schedule.scheduler,
      sampler: schedule.sampler,
      steps_run: schedule.sigmas.length - 1,
      schedule_steps: schedule.scheduleSteps,
    };
  });
}
