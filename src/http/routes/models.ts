import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FAMILY_NAMES } from '../../models/families.js';
import type { Services } from '../services.js';

const modelsSchema = z.object({
  models: z.array(z.object({
    name: z.string(), provider: z.string(), precision: z.string(), timestep_type: z.string(), vae_encoder_output: z.string(), hidden_size: z.number().nullable(),
    family: z.enum(FAMILY_NAMES).describe('Model family, from model_index.json latent_upscale.family or the folder\'s layout'),
    family_label: z.string(),
    prediction: z.enum(['eps', 'v']).describe('What the UNet predicts (scheduler_config.json prediction_type)'),
    vae_scale: z.number().describe('VAE scaling factor (vae_decoder/config.json scaling_factor, else the family\'s)'),
    sigma_table: z.string().describe('Sigma table its schedules use (GET /sigmas?table=)'),
    max_clip_skip: z.number().describe('Largest clip_skip it takes'),
  })).describe('Loaded models; pick one with the upscale parameter `model`'),
  errors: z.array(z.object({
    name: z.string(), error: z.string(),
    pending: z.boolean().optional().describe('true while a checkpoint is still being converted (it joins `models` when ready)'),
    model: z.string().optional().describe('Redis mode: the model\'s own name (`name` is prefixed with the worker)'),
  })).describe('Model folders and checkpoint files that could not be loaded or converted, and why; or that are still being converted'),
});

export async function modelRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/models', {
    schema: { summary: 'The onnx backend\'s models in MODELS_DIR (in Redis mode: on every live worker)', response: { 200: modelsSchema } },
  }, async () => {
    const snapshots = await services.jobs.snapshots();
    return { models: snapshots.flatMap((s) => s.models), errors: snapshots.flatMap((s) => s.modelErrors) };
  });
}
