import { z } from 'zod';
import { UPSCALE_METHOD_NAMES } from '../interpolation/methods.js';
import { MAX_STEPS } from '../schedules/img2img-steps.js';

/** A1111's CLIP_stop_at_last_layers slider ends at 12, CLIP-L's layer count. */
const MAX_CLIP_SKIP = 12;

/**
 * What a caller may set on an upscale, with the defaults a user of the A1111 extension expects: its
 * recommended nearest-exact + simple, fix steps on, 2x. Shared by the HTTP routes and the job queue.
 */
export const upscaleParametersSchema = z.object({
  scale: z.coerce.number().positive().max(8).optional().describe('Upscale factor (default 2 when no width/height is given).'),
  width: z.coerce.number().int().positive().optional().describe('Target width in pixels, rounded to a multiple of 8.'),
  height: z.coerce.number().int().positive().optional().describe('Target height in pixels, rounded to a multiple of 8.'),
  method: z.string().default('nearest-exact').describe(`Latent upscale method: ${UPSCALE_METHOD_NAMES.join(', ')}.`),
  scheduler: z.string().default('simple').describe('Sigma scheduler (our name or A1111 label); see GET /schedulers.'),
  steps: z.coerce.number().int().min(1).max(MAX_STEPS).default(30).describe('Denoising steps.'),
  denoise: z.coerce.number().gt(0).max(1).default(0.5).describe('Denoising strength in (0, 1].'),
  fix_steps: z.preprocess(booleanFromForm, z.boolean().default(true)).describe('Spend all steps denoising (the extension\'s fix).'),
  sampler: z.string().default('euler').describe('Sampler: our name (euler, dpmpp_2m, …) or A1111 label (Euler, DPM++ 2M, …).'),
  cfg_scale: z.coerce.number().min(0).max(30).default(7),
  seed: z.coerce.number().int().min(-1).max(2 ** 32 - 1).default(-1).describe('-1 picks a random seed; the seed used is returned.'),
  prompt: z.string().max(10_000).default(''),
  negative_prompt: z.string().max(10_000).default(''),
  clip_skip: z.coerce.number().int().min(1).max(MAX_CLIP_SKIP).default(1)
    .describe('A1111\'s CLIP_stop_at_last_layers: 1 uses the last layer, 2 the one before, … SD 1.x only (onnx: up to the model\'s max_clip_skip in GET /models).'),
  backend: z.string().optional().describe('Backend: a1111 or onnx (as configured); the first configured one by default.'),
  model: z.string().optional().describe('onnx backend: a model folder in MODELS_DIR (see GET /models); the first by default.'),
});

export type UpscaleParameters = z.output<typeof upscaleParametersSchema>;

/** Multipart fields arrive as strings: "true"/"false"/"1"/"0" mean booleans. */
function booleanFromForm(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const lowered = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
  if (['false', '0', 'no', 'off'].includes(lowered)) return false;
  return value;
}
