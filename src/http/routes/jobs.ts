import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { eventView, isEndEvent, isFinished, jobView, type JobRecord } from '../../jobs/job.js';
import { ERROR_CODE_NAMES, UserError } from '../../errors.js';
import { errorSchema } from '../errors.js';
import { callerOf } from '../plugins/access.js';
import type { Services } from '../services.js';
import { sendResult, submitUpscale, upscaleBodySchema, upscaleResultSchema } from './upscale.js';

const idParams = z.object({ id: z.string().uuid().describe('Job id from POST /jobs') });
const jobSchema = z.object({
  id: z.string(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  backend: z.string(),
  progress: z.number().describe('0..1'),
  step: z.number(),
  steps: z.number(),
  eta_seconds: z.number().nullable(),
  queue_position: z.number().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  ran_on: z.string().nullable(),
  error: z.object({ status: z.number(), code: z.enum(ERROR_CODE_NAMES), message: z.string() }).nullable(),
  parameters: z.record(z.string(), z.unknown()),
});

const SSE_HEARTBEAT_MS = 15_000;

export async function jobRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // Jobs are found as the caller may see them: another key's job is not found.
  const caller = (request: FastifyRequest): string | undefined => callerOf(request, services.config.apiKeys);
  const find = (id: string, request: FastifyRequest): Promise<JobRecord> => services.jobs.get(id, caller(request));
  const view = async (job: JobRecord): Promise<z.output<typeof jobSchema>> => jobView(job, await services.jobs.position(job)) as z.output<typeof jobSchema>;

  routes.post('/jobs', {
    schema: {
      summary: 'Queue an upscale; answers 202 with the job',
      consumes: ['application/json', 'multipart/form-data'],
      body: upscaleBodySchema,
      response: { 202: jobSchema },
    },
  }, async (request, reply) => {
    const job = await submitUpscale(services, request, request.body, caller(request));
    return reply.code(202).header('location', `/jobs/${job.id}`).send(await view(job));
  });

  routes.get('/jobs/:id', { schema: { summary: 'Job state, progress, step i/n, ETA and error', params: idParams, response: { 200: jobSchema } } },
    async (request) => view(await find(request.params.id, request)));

  routes.get('/jobs/:id/result', {
    schema: {
      summary: 'The finished image (PNG, or JSON with Accept: application/json)',
      params: idParams,
      produces: ['image/png', 'application/json'],
      response: { 200: upscaleResultSchema, 409: errorSchema },
    },
  }, async (request, reply) => {
    const job = await find(request.params.id, request);
    if (!isFinished(job.state)) {
      throw new UserError(`job ${job.id} is ${job.state}; the result is ready when GET /jobs/${job.id} says succeeded`, 'JOB_NOT_FINISHED');
    }
    return sendResult(services, job, request, reply);
  });

  routes.delete('/jobs/:id', {
    schema: {
      summary: 'Cancel a job (interrupts A1111 when it is running)',
      description: 'A queued job never runs; a running one is interrupted. A job that has ended (succeeded, failed, cancelled) answers 409 (JOB_FINISHED).',
      params: idParams,
      response: { 202: jobSchema, 409: errorSchema },
    },
  },
    async (request, reply) => {
      const job = await find(request.params.id, request);
      await services.jobs.cancel(job);
      return reply.code(202).send(await view(await find(job.id, request)));
    });

  routes.get('/jobs/:id/events', {
    schema: {
      summary: 'Server-Sent Events: state, queued, running, progress, done, failed, cancelled, closing',
      description: 'Event data is snake_case JSON: progress events carry progress, step, steps and eta_seconds (null when unknown), closing events a message, all others the job as GET /jobs/{id} shows it (running: ran_on). The first event is the current state; the stream ends after done, failed or cancelled, or with closing when this API node shuts down (the job goes on: follow it again). A job that disappears (a Redis restarted without persistence) ends with failed.',
      params: idParams,
      produces: ['text/event-stream'],
    },
  }, async (request, reply) => {
    const job = await find(request.params.id, request);
    const snapshot = await view(job);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (type: string, data: unknown): void => void raw.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    send('state', snapshot);
    if (isFinished(job.state)) {
      send(job.state === 'succeeded' ? 'done' : job.state, snapshot);
      raw.end();
      return;
    }
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
    const close = (): void => {
      clearInterval(heartbeat);
      unfollow();
      raw.end();
    };
    const unfollow = services.jobs.follow(job, (event, now) => {
      send(event.type, eventView(event, now));
      if (isEndEvent(event) || event.type === 'closing') close();
    });
    raw.on('close', close);
  });
}
