import { UserError } from '../errors.js';
import { findSampler, unknownSampler, type SamplerInfo } from '../samplers/catalog.js';
import { SCHEDULERS, schedulerNamed } from './schedulers.js';

export interface SamplerChoice {
  readonly sampler: SamplerInfo;
  /** Our scheduler name (`automatic` included: resolveScheduler picks the sampler's own). */
  readonly scheduler: string;
}

/**
 * A sampler by our name or A1111's label, and the scheduler. Before A1111 1.9 split the schedule out, one
 * label named both ("DPM++ 2M Karras", "Euler a Karras"), and A1111 still splits such a label: a trailing
 * " <scheduler label, name or alias>" is the scheduler (modules/sd_samplers.py get_sampler_and_scheduler).
 * A1111 then lets the label's scheduler override the scheduler field silently; here a different explicit
 * scheduler is refused instead, so the caller learns which one ran.
 */
export function chooseSampler(samplerName: string, schedulerName: string | undefined, defaultScheduler: string): SamplerChoice {
  const scheduler = schedulerName === undefined ? undefined : schedulerNamed(schedulerName).name;
  const sampler = findSampler(samplerName);
  if (sampler !== undefined) return { sampler, scheduler: scheduler ?? defaultScheduler };
  const combined = splitCombinedLabel(samplerName);
  if (combined === undefined) throw unknownSampler(samplerName);
  if (scheduler !== undefined && scheduler !== combined.scheduler) {
    throw new UserError(`sampler '${samplerName}' names the ${combined.scheduler} scheduler but scheduler is '${schedulerName}'; give one of them (sampler '${combined.sampler.label}' with scheduler '${schedulerName}', or leave scheduler out)`, 'CONFLICTING_FIELDS');
  }
  return combined;
}

function splitCombinedLabel(label: string): SamplerChoice | undefined {
  const lowered = label.toLowerCase();
  for (const scheduler of SCHEDULERS) {
    for (const suffix of [scheduler.label, scheduler.name, ...(scheduler.aliases ?? [])]) {
      if (suffix === undefined || !lowered.endsWith(` ${suffix.toLowerCase()}`)) continue;
      const sampler = findSampler(label.slice(0, -(suffix.length + 1)));
      if (sampler !== undefined) return { sampler, scheduler: scheduler.name };
    }
  }
  return undefined;
}
