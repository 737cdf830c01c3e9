import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { eventView, isEndEvent, isFinished, jobView, type JobRecord } from '../../jobs/job.js';
import { ERROR_CODE_NAMES, UserError } from '../../errors.js';
import { errorSchema } from '../errors.js';
import { callerOf } from '../plugins/access.js';
import type { Services } from '../services.js';
import { asBuffer } from '../../formats/bytes.js';
import { resultOf, sendResult, submitUpscale, upscaleBodySchema, upscaleResultSchema } from './upscale.js';

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
    return sendResult(await resultOf(services, job), request, reply);
  });

  routes.get('/jobs/:id/preview', {
    schema: {
      summary: 'The latest live preview of a running job (with preview: cheap or full)',
      description: 'The image as the backend made it (the onnx backend: JPEG; A1111: its live_previews_image_format), with X-Step and X-Steps headers. 404 PREVIEW_NOT_READY before the first preview, with previews off, and once the job has ended.',
      params: idParams,
      produces: ['image/jpeg', 'image/png', 'image/webp'],
    },
  }, async (request, reply) => {
    const job = await find(request.params.id, request);
    const preview = isFinished(job.state) ? undefined : await services.jobs.preview(job);
    if (preview === undefined) throw new UserError(`job ${job.id}: ${noPreviewReason(job)}`, 'PREVIEW_NOT_READY');
    return reply.header('content-type', preview.mime).header('x-step', String(preview.step)).header('x-steps', String(preview.steps))
      .header('cache-control', 'no-store').send(asBuffer(preview.bytes));
  });

  routes.delete('/jobs/:id', {
    schema: {
      summary: 'Cancel a job (interrupts A1111 when it is running)',
      description: 'A queued job never runs; a running one is interrupted (once A1111 has begun answering it, only the transfer is dropped: the instance may be running the next job). A job that has ended (succeeded, failed, cancelled) answers 409 (JOB_FINISHED).',
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
      summary: 'Server-Sent Events: state, queued, running, progress, preview, done, failed, cancelled, closing',
      description: 'Event data is snake_case JSON: progress events carry progress, step, steps and eta_seconds (null when unknown), preview events (jobs asked with preview) step, steps, mime and the image as base64, closing events a message, all others the job as GET /jobs/{id} shows it (running: ran_on). The first event is the current state; the stream ends after done, failed or cancelled, or with closing when this API node shuts down (the job goes on: follow it again). A job that disappears (a Redis restarted without persistence) ends with failed.',
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
    // Events go out in order; a preview event waits for its image, the events after it wait for it.
    let sending = Promise.resolve();
    const unfollow = services.jobs.follow(job, (event, now) => {
      sending = sending.then(async () => {
        if (event.type === 'preview') {
          const preview = await services.jobs.preview(now).catch(() => undefined);
          if (preview !== undefined) send('preview', { ...eventView(event, now), step: preview.step, steps: preview.steps, mime: preview.mime, image: asBuffer(preview.bytes).toString('base64') });
          return;
        }
        send(event.type, eventView(event, now));
        if (isEndEvent(event) || event.type === 'closing') close();
      });
    });
    raw.on('close', close);
  });
}

function noPreviewReason(job: JobRecord): string {
  if (isFinished(job.state)) return `it has ${job.state}; previews go when a job ends (GET /jobs/${job.id}/result has the image)`;
  if (job.parameters['preview'] === 'off') return 'it was submitted with preview off (ask with preview: cheap or full)';
  return job.state === 'queued' ? 'it is still queued' : 'no preview yet: the first comes after its first preview step';
}
