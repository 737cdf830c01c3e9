import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { resizeLatent } from '../../engine/resize.js';
import { UserError } from '../../errors.js';
import { decodeLatentDetected, encodeLatent } from '../../formats/latent-file.js';
import { checkLatentOutput } from '../../latent/output-limit.js';
import { latentTargetSize } from '../../latent/target-size.js';
import type { Services } from '../services.js';
import { asBuffer } from '../../formats/bytes.js';

const resizeQuery = z.object({
  method: z.string().default('nearest-exact'),
  width: z.coerce.number().int().optional().describe('Target width in latent cells'),
  height: z.coerce.number().int().optional().describe('Target height in latent cells'),
  scale: z.coerce.number().positive().optional().describe('Factor; sizes round like ComfyUI LatentUpscaleBy (halves to even)'),
});

export async function latentRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post('/latents/resize', {
    schema: {
      summary: 'Resize a latent (.npy, safetensors or ComfyUI .latent body); answers in the same format',
      description: 'The output is bounded like images: at most MAX_OUTPUT_MEGAPIXELS worth of latent cells (8×8 pixels each) per plane, and 16 such planes in all (413 LATENT_TOO_LARGE past it).',
      consumes: ['application/octet-stream'],
      produces: ['application/octet-stream'],
      querystring: resizeQuery,
    },
  }, async (request, reply) => {
    const body = request.body;
    if (!(body instanceof Uint8Array) || body.length === 0) {
      throw new UserError('send the latent file as the request body with Content-Type: application/octet-stream', 'UNSUPPORTED_MEDIA_TYPE');
    }
    const { file, format } = decodeLatentDetected(body, 'body');
    const [batch, channels, height, width] = file.latent.shape;
    const target = latentTargetSize({ height, width }, request.query);
    checkLatentOutput([batch, channels, target.height, target.width], services.config.maxOutputMegapixels);
    const result = await resizeLatent(services.engine, file.latent, request.query.method, target.height, target.width);
    return reply
      .type('application/octet-stream')
      .header('content-disposition', `attachment; filename="resized.${format}"`)
      .header('x-latent-shape', result.latent.shape.join(','))
      .send(asBuffer(encodeLatent({ latent: result.latent, element: file.element }, format)));
  });
}
