import { z } from 'zod';
import { UPSCALE_METHOD_NAMES } from '../interpolation/methods.js';
import { PREVIEW_MODES } from '../backends/backend.js';
import { MAX_STEPS } from '../schedules/img2img-steps.js';

/** A1111's CLIP_stop_at_last_layers slider ends at 12, CLIP-L's layer count. */
const MAX_CLIP_SKIP = 12;

/** The extension's recommended schedule; a sampler label that names its own ("DPM++ 2M Karras") wins over it. */
export const DEFAULT_SCHEDULER = 'simple';

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

/**
 * A boolean as JSON, a multipart field or a query string gives it: true/false, or the words (any case)
 * and JSON numbers true/false, 1/0, yes/no, on/off — the same in all three.
 */
export function booleanField(fallback: boolean): z.ZodType<boolean, unknown> {
  return z.preprocess((value) => {
    if (typeof value !== 'string' && typeof value !== 'number') return value;
    const word = String(value).trim().toLowerCase();
    return Object.hasOwn(BOOLEAN_WORDS, word) ? BOOLEAN_WORDS[word] : value;
  }, z.boolean({ error: 'must be true or false (or 1/0, yes/no, on/off)' }).default(fallback)) as z.ZodType<boolean, unknown>;
}

/**
 * C0 control characters other than tab, line feed and carriage return: a NUL in the PNG text chunk ends
 * the parameters early for libpng readers, and the rest mean nothing in a prompt.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function promptField(): z.ZodType<string, unknown> {
  return z.string().max(10_000).default('').superRefine((text, context) => {
    const at = text.search(CONTROL_CHARACTER);
    if (at >= 0) {
      const code = text.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
      context.addIssue({ code: 'custom', message: `contains control character U+${code} at position ${at} (only tab and newlines are allowed)` });
    }
  }) as z.ZodType<string, unknown>;
}

/**
 * What a caller may set on an upscale, with the defaults a user of the A1111 extension expects: its
 * recommended nearest-exact + simple, fix steps on, 2x. Shared by the HTTP routes and the job queue.
 */
export const upscaleParametersSchema = z.object({
  scale: z.coerce.number().positive().max(8).optional().describe('Upscale factor (default 2 when no width/height is given).'),
  width: z.coerce.number().int().positive().optional().describe('Target width in pixels, rounded to a multiple of 8.'),
  height: z.coerce.number().int().positive().optional().describe('Target height in pixels, rounded to a multiple of 8.'),
  method: z.string().default('nearest-exact').describe(`Latent upscale method: ${UPSCALE_METHOD_NAMES.join(', ')}.`),
  scheduler: z.string().optional().describe(`Sigma scheduler (our name or A1111 label; see GET /schedulers). Default ${DEFAULT_SCHEDULER}, or the one a combined sampler label names.`),
  steps: z.coerce.number().int().min(1).max(MAX_STEPS).default(30).describe('Denoising steps.'),
  denoise: z.coerce.number().gt(0).max(1).default(0.5).describe('Denoising strength in (0, 1].'),
  fix_steps: booleanField(true).describe('Spend all steps denoising (the extension\'s fix): true/false, 1/0, yes/no, on/off.'),
  sampler: z.string().default('euler').describe('Sampler: our name (euler, dpmpp_2m, …), A1111 label (Euler, DPM++ 2M, …) or A1111\'s older combined label (DPM++ 2M Karras = DPM++ 2M with the karras scheduler).'),
  cfg_scale: z.coerce.number().min(0).max(30).default(7),
  seed: z.coerce.number().int().min(-1).max(2 ** 32 - 1).default(-1).describe('-1 picks a random seed; the seed used is returned.'),
  prompt: promptField(),
  negative_prompt: promptField(),
  clip_skip: z.coerce.number().int().min(1).max(MAX_CLIP_SKIP).default(1)
    .describe('A1111\'s CLIP_stop_at_last_layers: 1 uses the last layer, 2 the one before, … SD 1.x only (onnx: up to the model\'s max_clip_skip in GET /models).'),
  background_color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour as #rrggbb').default('#ffffff')
    .describe('What a transparent input is flattened onto, as A1111\'s img2img_background_color (#rrggbb).'),
  preview: z.enum(PREVIEW_MODES).default('off')
    .describe('Live previews while sampling (SSE `preview` events, GET /jobs/:id/preview): off; cheap, a fixed linear map of the latent to RGB at latent resolution (A1111\'s "Approx cheap"); full, the VAE decoding the current denoised estimate.'),
  preview_every: z.coerce.number().int().min(1).max(MAX_STEPS).default(1).describe('With previews on: one every this many steps.'),
  backend: z.string().optional().describe('Backend: a1111 or onnx (as configured); the first configured one by default.'),
  model: z.string().optional().describe('onnx backend: a model folder in MODELS_DIR (see GET /models); the first by default.'),
});

export type UpscaleParameters = z.output<typeof upscaleParametersSchema>;
