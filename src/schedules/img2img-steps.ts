import { UserError } from '../errors.js';
import { samplerNamed, type SamplerInfo } from '../samplers/catalog.js';
import { schedulerNamed, type Scheduler } from './schedulers.js';
import type { SigmaTable } from './sigma-table.js';

export const MAX_STEPS = 1000;
/** Fix steps stretches the schedule to steps/denoise; past this the request is a typo, not a schedule. */
export const MAX_SCHEDULE_STEPS = 10_000;

/**
 * A1111 setup_img2img_steps (sd_samplers_common.py): with fix steps the schedule is stretched to
 * ⌊steps / denoise⌋ so that all `steps` are spent denoising; without it, only ⌊denoise·steps⌋ + 1 run.
 */
export function img2imgStepCounts(steps: number, denoise: number, fixSteps: boolean): { scheduleSteps: number; denoisingSteps: number } {
  const strength = Math.min(denoise, 0.999);
  if (fixSteps) return { scheduleSteps: Math.trunc(steps / strength), denoisingSteps: steps };
  return { scheduleSteps: steps, denoisingSteps: Math.trunc(strength * steps) + 1 };
}

/** The scheduler a request names, with `automatic` replaced by the sampler's default. */
export function resolveScheduler(schedulerName: string, sampler: SamplerInfo): Scheduler {
  const scheduler = schedulerNamed(schedulerName);
  return scheduler.sigmas === undefined ? schedulerNamed(sampler.automaticScheduler) : scheduler;
}

/**
 * The whole schedule for `steps`, as KDiffusionSampler.get_sigmas builds it: one extra step and the
 * penultimate sigma dropped for samplers that ask for that (DPM2, DPM2 a, DPM++ 3M SDE).
 */
export function fullSchedule(scheduler: Scheduler, steps: number, sampler: SamplerInfo, table: SigmaTable): number[] {
  const sigmas = scheduler.sigmas!(steps + (sampler.discardPenultimateSigma ? 1 : 0), table);
  return sampler.discardPenultimateSigma ? [...sigmas.slice(0, -2), sigmas[sigmas.length - 1]!] : sigmas;
}

export interface Img2imgRequest {
  readonly scheduler: string;
  readonly steps: number;
  /** Denoising strength in (0, 1]; 1 runs the full schedule. */
  readonly denoise: number;
  readonly fixSteps: boolean;
  readonly sampler: string;
  readonly table: SigmaTable;
}

export interface Img2imgSchedule {
  readonly scheduler: string;
  readonly sampler: string;
  /** Length of the full schedule the sampled part is cut from. */
  readonly scheduleSteps: number;
  readonly fullSigmas: number[];
  /** The sigmas the sampler runs: first is the starting noise level, last is 0. */
  readonly sigmas: number[];
}

/** The step counts of a request, refused (422) when they give no schedule within the limits. */
export function checkedStepCounts(steps: number, denoise: number, fixSteps: boolean): { scheduleSteps: number; denoisingSteps: number } {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new UserError(`steps must be an integer from 1 to ${MAX_STEPS}; got ${steps}`, 'INVALID_SCHEDULE');
  }
  if (!Number.isFinite(denoise) || denoise <= 0 || denoise > 1) {
    throw new UserError(`denoise must be in (0, 1]; got ${denoise}`, 'INVALID_SCHEDULE');
  }
  const counts = img2imgStepCounts(steps, denoise, fixSteps);
  if (counts.scheduleSteps > MAX_SCHEDULE_STEPS) {
    throw new UserError(`steps ${steps} at denoise ${denoise} with fix steps needs a ${counts.scheduleSteps}-step schedule; the limit is ${MAX_SCHEDULE_STEPS} (raise denoise or lower steps)`, 'INVALID_SCHEDULE');
  }
  return counts;
}

export function img2imgSchedule(request: Img2imgRequest): Img2imgSchedule {
  const { scheduleSteps, denoisingSteps } = checkedStepCounts(request.steps, request.denoise, request.fixSteps);
  const sampler = samplerNamed(request.sampler);
  const scheduler = resolveScheduler(request.scheduler, sampler);
  const fullSigmas = fullSchedule(scheduler, scheduleSteps, sampler, request.table);
  // A1111 slices sigmas[scheduleSteps - t_enc - 1:]; counting from the end is the same cut whenever the
  // schedule has scheduleSteps+1 entries, and still yields the requested steps when a scheduler
  // deduplicates (beta, ddim_uniform past 1000 steps), as ComfyUI's [-(steps+1):] does.
  return {
    scheduler: scheduler.name,
    sampler: sampler.name,
    scheduleSteps,
    fullSigmas,
    sigmas: fullSigmas.slice(-(denoisingSteps + 1)),
  };
}
