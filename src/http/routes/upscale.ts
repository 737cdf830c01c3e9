import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorFor, UserError } from '../../errors.js';
import type { JobRecord, JobResult } from '../../jobs/job.js';
import { prepareUpscale } from '../../upscale/prepare.js';
import { callerOf } from '../plugins/access.js';
import { upscaleParametersSchema } from '../../upscale/parameters.js';
import type { Services } from '../services.js';
import { imageBytes } from '../uploads.js';
import { asBuffer } from '../../formats/bytes.js';

/** JSON bodies carry the image as base64 (a data: URL prefix is fine); multipart bodies arrive in the same shape. */
export const upscaleBodySchema = upscaleParametersSchema.extend({
  image: z.string().min(1).describe('The input image (PNG, JPEG or WebP) as base64, with or without a data: prefix; or a multipart file field.'),
});

export const upscaleResultSchema = z.object({
  images: z.array(z.string()).describe('Base64 PNGs, each with A1111 infotext in its "parameters" chunk.'),
  parameters: z.record(z.string(), z.unknown()).describe('Every value used, including the seed and any size rounding.'),
});

/**
 * Queues the request's upscale as `owner`'s job (a digest of the caller's API key; undefined without API
 * keys). The image is the uploaded file of a multipart body, or the base64 of a JSON one.
 */
export async function submitUpscale(services: Services, request: FastifyRequest, body: z.output<typeof upscaleBodySchema>, owner: string | undefined): Promise<JobRecord> {
  const image = imageBytes(request, 'image', body.image);
  const prepared = await prepareUpscale(image, body, services.config.backends, services.config);
  return services.jobs.submit(prepared.backend, prepared.work, prepared.parameters, owner);
}

export function wantsJson(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('application/json');
}

/** A finished job's result; throws (through the error handler, so a 503 also says when to come back) when there is none. */
export async function resultOf(services: Services, job: JobRecord): Promise<JobResult> {
  if (job.state === 'failed') throw errorFor(job.error!.code, job.error!.message);
  if (job.state === 'cancelled') throw new UserError(`job ${job.id} was cancelled`, 'JOB_CANCELLED');
  const result = await services.jobs.result(job);
  if (result === undefined) throw new UserError(`job ${job.id}: its result is no longer stored (kept RESULT_TTL_SECONDS, and in-process within RESULT_STORE_MB, oldest first)`, 'RESULT_EXPIRED');
  return result;
}

/** A result as answered: the PNG by default, JSON with base64 images when the client asks for JSON. */
export function sendResult(result: JobResult, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (wantsJson(request)) return reply.send({ images: [asBuffer(result.png).toString('base64')], parameters: result.parameters });
  return reply.header('content-type', 'image/png').header('x-seed', String(result.seed)).send(asBuffer(result.png));
}

/** What each stage of `POST /upscale` stands for in its Server-Timing header. */
const STAGES = {
  body: 'before the handler: access checks and receiving and validating the body',
  check: 'reading and checking the image and queueing the job',
  job: 'queued and run (at A1111 the whole exchange) and its result checked and read',
} as const;

/**
 * The ms each stage of a request took on this node, in a Server-Timing header (W3C Server Timing): a
 * caller sees what this service's share of a slow answer was (browsers show it with the request). The
 * header is set at each stage's end, so an error answer says how far the request got. The body stage
 * runs from the request's arrival, as Fastify times it (reply.elapsedTime), to the handler.
 */
class StageTimer {
  private readonly durations: [keyof typeof STAGES, number][] = [];
  private last = 0;

  constructor(private readonly reply: FastifyReply) {
    this.stage('body');
  }

  /** Ends the stage `name` now. */
  stage(name: keyof typeof STAGES): void {
    const now = this.reply.elapsedTime;
    this.durations.push([name, now - this.last]);
    this.last = now;
    this.reply.header('server-timing', this.durations.map(([stage, ms]) => `${stage};dur=${ms.toFixed(1)};desc="${STAGES[stage]}"`).join(', '));
  }

  /** Runs `work` as the stage `name`, which ends when it does, whether it succeeds or throws. */
  async time<T>(name: keyof typeof STAGES, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      this.stage(name);
    }
  }
}

export async function upscaleRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post('/upscale', {
    schema: {
      summary: 'Upscale an image in latent space and wait for the result',
      description: 'Runs through the same queue as /jobs. Answers image/png by default, or JSON with base64 images and the parameters used when Accept is application/json. The PNG carries A1111 infotext, and the seed used is in the X-Seed header. A Server-Timing header gives the ms this node spent before the handler (body: access checks, receiving and validating the body), checking the image (check) and on the job (job), on every answer once the body is valid.',
      consumes: ['application/json', 'multipart/form-data'],
      body: upscaleBodySchema,
      produces: ['image/png', 'application/json'],
      response: { 200: upscaleResultSchema.describe('With Accept: application/json; otherwise the PNG bytes.') },
    },
  }, async (request, reply) => {
    const timing = new StageTimer(reply);
    const job = await timing.time('check', () => submitUpscale(services, request, request.body, callerOf(request, services.config.apiKeys)));
    // A client that gives up should not keep an A1111 busy. The request stream has long ended (its body
    // was read), so the response is what tells of a closed connection.
    const onClose = (): void => {
      if (!reply.raw.writableFinished) void services.jobs.cancel(job).catch(() => undefined);
    };
    reply.raw.on('close', onClose);
    try {
      const result = await timing.time('job', async () => resultOf(services, await services.jobs.settled(job)));
      return sendResult(result, request, reply);
    } finally {
      reply.raw.off('close', onClose);
    }
  });
}
