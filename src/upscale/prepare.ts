import { randomInt } from 'node:crypto';
import type { UpscaleOutcome, UpscaleWork } from '../backends/backend.js';
import { UserError, unknownName } from '../errors.js';
import { sniffImage } from '../images/sniff.js';
import { setPngText } from '../images/png.js';
import { upscaleMethod } from '../interpolation/methods.js';
import type { JobRecord, JobResult } from '../jobs/job.js';
import { readInputImage } from '../images/input.js';
import { checkedStepCounts, resolveScheduler } from '../schedules/img2img-steps.js';
import { chooseSampler } from '../schedules/sampler-choice.js';
import { infotext } from './infotext.js';
import { DEFAULT_SCHEDULER, type UpscaleParameters } from './parameters.js';
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

/**
 * Validates an upscale request against the registries and limits and fills in every default: everything
 * a job could fail on for what it asked is checked here, before anything is queued. The image is checked
 * against the size limits from its header first, then decoded whole (images/input.ts).
 */
export async function prepareUpscale(image: Uint8Array, request: UpscaleParameters, backends: readonly string[], limits: Limits): Promise<PreparedUpscale> {
  const header = sniffImage(image);
  const inputMegapixels = (header.width * header.height) / 1e6;
  if (inputMegapixels > limits.maxInputMegapixels) {
    throw new UserError(`image: ${header.width}×${header.height} is ${inputMegapixels.toFixed(1)} megapixels; the limit is ${limits.maxInputMegapixels} (MAX_INPUT_MEGAPIXELS)`, 'IMAGE_TOO_LARGE');
  }
  const backend = request.backend ?? backends[0]!;
  if (!backends.includes(backend)) throw unknownName('backend', backend, backends, 'UNKNOWN_BACKEND');
  const method = upscaleMethod(request.method).name;
  const { sampler, scheduler } = chooseSampler(request.sampler, request.scheduler, DEFAULT_SCHEDULER);
  checkedStepCounts(request.steps, request.denoise, request.fix_steps);
  const input = await readInputImage(image, header, request.background_color);
  const size = targetSize(input.info, request, limits.maxOutputMegapixels);
  const seed = request.seed === -1 ? randomInt(0, 2 ** 32) : request.seed;
  const work: UpscaleWork = {
    image: input.bytes, input: input.info, width: size.width, height: size.height, method, scheduler,
    steps: request.steps, denoise: request.denoise, fixSteps: request.fix_steps, sampler,
    cfgScale: request.cfg_scale, seed, prompt: request.prompt, negativePrompt: request.negative_prompt, clipSkip: request.clip_skip,
    preview: { mode: request.preview, every: request.preview_every },
    ...(request.model !== undefined ? { model: request.model } : {}),
  };
  const notes = [
    ...input.adjustments,
    ...(size.rounded ? [`size ${size.rounded.requestedWidth}×${size.rounded.requestedHeight} rounded to ${size.width}×${size.height} (multiples of 8)`] : []),
  ];
  return {
    backend,
    work,
    parameters: {
      backend, width: size.width, height: size.height, input_width: input.info.width, input_height: input.info.height, input_format: header.format,
      method, scheduler, scheduler_resolved: resolveScheduler(scheduler, sampler).name,
      steps: work.steps, denoise: work.denoise, fix_steps: work.fixSteps, sampler: sampler.name, sampler_label: sampler.label,
      cfg_scale: work.cfgScale, seed, prompt: work.prompt, negative_prompt: work.negativePrompt, clip_skip: work.clipSkip,
      background_color: request.background_color, preview: request.preview, preview_every: request.preview_every, model: request.model ?? null, notes,
    },
  };
}

/**
 * The stored result: the backend's PNG with our generation parameters as A1111 infotext, in A1111's key
 * order (modules/processing.py create_infotext: "Model hash" then "Model" after Size, Clip skip only above
 * 1). The model is the one that ran, named by the backend; A1111 reports its checkpoint's short hash too,
 * an ONNX folder has none, so there only the name.
 */
export function finishUpscale(job: JobRecord, work: UpscaleWork, outcome: UpscaleOutcome): JobResult {
  const { model, modelHash } = outcome;
  const notes = [...((job.parameters['notes'] as string[] | undefined) ?? []), ...(outcome.notes ?? [])];
  const parameters = {
    ...job.parameters, seed: outcome.seed, ran_on: outcome.ranOn, model: model ?? null, model_hash: modelHash ?? null, notes,
    ...(outcome.stepsRun !== undefined ? { steps_run: outcome.stepsRun } : {}),
  };
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
      ...(modelHash !== undefined ? [['Model hash', modelHash] as const] : []),
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
