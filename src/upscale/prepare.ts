import { randomInt } from 'node:crypto';
import type { UpscaleOutcome, UpscaleWork } from '../backends/backend.js';
import { UserError, unknownName } from '../errors.js';
import { sniffImage } from '../images/sniff.js';
import { setPngText } from '../images/png.js';
import { upscaleMethod } from '../interpolation/methods.js';
import type { JobRecord, JobResult } from '../jobs/job.js';
import { samplerNamed } from '../samplers/catalog.js';
import { resolveScheduler } from '../schedules/img2img-steps.js';
import { schedulerNamed } from '../schedules/schedulers.js';
import { infotext } from './infotext.js';
import type { UpscaleParameters } from './parameters.js';
import { targetSize } from './target-size.js';

export interface Limits {
  readonly maxInputMegapixels: number;
  readonly maxOutputMegapixels: number;
}

export interface PreparedUpscale {
  readonly backend: string;
  readonly work: UpscaleWork;
  /** Echoed to the caller: every value used, and notes on what was adjusted. */
  readonly parameters: Record<string, unknown>;
}

/** Validates an upscale request against the registries and limits, and fills in every default. */
export function prepareUpscale(image: Uint8Array, request: UpscaleParameters, backends: readonly string[], limits: Limits): PreparedUpscale {
  const input = sniffImage(image);
  const inputMegapixels = (input.width * input.height) / 1e6;
  if (inputMegapixels > limits.maxInputMegapixels) {
    throw new UserError(`image: ${input.width}×${input.height} is ${inputMegapixels.toFixed(1)} megapixels; the limit is ${limits.maxInputMegapixels} (MAX_INPUT_MEGAPIXELS)`, 'IMAGE_TOO_LARGE');
  }
  const backend = request.backend ?? backends[0]!;
  if (!backends.includes(backend)) throw unknownName('backend', backend, backends, 'UNKNOWN_BACKEND');
  const method = upscaleMethod(request.method).name;
  const sampler = samplerNamed(request.sampler);
  const scheduler = schedulerNamed(request.scheduler);
  const size = targetSize(input, request, limits.maxOutputMegapixels);
  const seed = request.seed === -1 ? randomInt(0, 2 ** 32) : request.seed;
  const work: UpscaleWork = {
    image, input, width: size.width, height: size.height, method, scheduler: scheduler.name,
    steps: request.steps, denoise: request.denoise, fixSteps: request.fix_steps, sampler,
    cfgScale: request.cfg_scale, seed, prompt: request.prompt, negativePrompt: request.negative_prompt, clipSkip: request.clip_skip,
    ...(request.model !== undefined ? { model: request.model } : {}),
  };
  const notes = size.rounded
    ? [`size ${size.rounded.requestedWidth}×${size.rounded.requestedHeight} rounded to ${size.width}×${size.height} (multiples of 8)`]
    : [];
  return {
    backend,
    work,
    parameters: {
      backend, width: size.width, height: size.height, input_width: input.width, input_height: input.height, input_format: input.format,
      method, scheduler: scheduler.name, scheduler_resolved: resolveScheduler(scheduler.name, sampler).name,
      steps: work.steps, denoise: work.denoise, fix_steps: work.fixSteps, sampler: sampler.name, sampler_label: sampler.label,
      cfg_scale: work.cfgScale, seed, prompt: work.prompt, negative_prompt: work.negativePrompt, clip_skip: work.clipSkip,
      model: request.model ?? null, notes,
    },
  };
}

/**
 * The stored result: the backend's PNG with our generation parameters as A1111 infotext, in A1111's key
 * order (modules/processing.py create_infotext: Model after Size, Clip skip only above 1). A1111 writes
 * "Model hash" before "Model"; we have no hash of an ONNX folder, so only the name.
 */
export function finishUpscale(job: JobRecord, work: UpscaleWork, outcome: UpscaleOutcome): JobResult {
  const model = outcome.model;
  const parameters = { ...job.parameters, seed: outcome.seed, ran_on: outcome.ranOn, model: model ?? null };
  const text = infotext({
    prompt: work.prompt,
    negativePrompt: work.negativePrompt,
    parameters: [
      ['Steps', work.steps],
      ['Sampler', work.sampler.label],
      ['Schedule type', resolveScheduler(work.scheduler, work.sampler).label ?? work.scheduler],
      ['CFG scale', work.cfgScale],
      ['Seed', outcome.seed],
      ['Size', `${work.width}x${work.height}`],
      ...(model !== undefined ? [['Model', model] as const] : []),
      ['Denoising strength', work.denoise],
      ...(work.clipSkip > 1 ? [['Clip skip', work.clipSkip] as const] : []),
      ['Latent upscale method', work.method],
      ['Fix steps', work.fixSteps ? 'True' : 'False'],
      ['Latent upscale service', job.backend],
    ],
  });
  return { png: setPngText(outcome.png, 'parameters', text), seed: outcome.seed, ranOn: outcome.ranOn, parameters: { ...parameters, infotext: text } };
}
