import { unknownName, type UserError } from '../errors.js';

/**
 * What the scheduling side needs to know about a sampler: its names, the scheduler `automatic` means
 * for it, and whether it drops the penultimate sigma. Entries mirror A1111 v1.10's samplers_k_diffusion
 * (A1111 modules/sd_samplers_kdiffusion.py); our snake_case names follow k-diffusion's sample_* functions.
 */
export interface SamplerInfo {
  readonly name: string;
  /** A1111's label, the string its API's `sampler_name` takes. */
  readonly label: string;
  readonly automaticScheduler: 'karras' | 'exponential' | 'uniform' | 'ddim_uniform';
  readonly discardPenultimateSigma: boolean;
  readonly description: string;
  /**
   * On A1111, whether it samples on a schedule one can choose: its k-diffusion samplers do; DDIM (like
   * PLMS, UniPC and DDIM CFG++, which we do not list) runs on its own timesteps and ignores a schedule
   * override (A1111 modules/sd_samplers_kdiffusion.py applies sampler_noise_scheduler_override; the
   * compvis/timesteps samplers never read it).
   */
  readonly a1111Schedules: boolean;
}

const sampler = (
  name: string, label: string, automaticScheduler: SamplerInfo['automaticScheduler'], description: string, discardPenultimateSigma = false,
): SamplerInfo => ({ name, label, automaticScheduler, discardPenultimateSigma, description, a1111Schedules: automaticScheduler !== 'ddim_uniform' });

export const SAMPLERS: readonly SamplerInfo[] = [
  sampler('euler', 'Euler', 'uniform', 'first-order Euler; deterministic; A1111\'s API default'),
  sampler('euler_ancestral', 'Euler a', 'uniform', 'Euler with fresh noise each step; changes a lot with steps'),
  sampler('heun', 'Heun', 'uniform', 'second-order Heun (two model calls a step)'),
  sampler('lms', 'LMS', 'uniform', 'linear multistep, order 4'),
  sampler('dpmpp_2m', 'DPM++ 2M', 'karras', 'DPM-Solver++ 2M multistep; sharp, fast converging'),
  sampler('dpmpp_2m_sde', 'DPM++ 2M SDE', 'exponential', 'DPM-Solver++ 2M, stochastic'),
  sampler('ddim', 'DDIM', 'ddim_uniform', 'DDIM with eta 0 (A1111 runs DDIM on uniform timesteps, which ddim_uniform reproduces)'),
  sampler('dpmpp_sde', 'DPM++ SDE', 'karras', 'DPM-Solver++ SDE (A1111 backend only)'),
  sampler('dpmpp_2m_sde_heun', 'DPM++ 2M SDE Heun', 'exponential', 'DPM-Solver++ 2M SDE, Heun solver (A1111 backend only)'),
  sampler('dpmpp_2s_ancestral', 'DPM++ 2S a', 'karras', 'DPM-Solver++ 2S ancestral (A1111 backend only)'),
  sampler('dpmpp_3m_sde', 'DPM++ 3M SDE', 'exponential', 'DPM-Solver++ 3M SDE (A1111 backend only)', true),
  sampler('dpm_2', 'DPM2', 'karras', 'DPM-Solver 2 (A1111 backend only)', true),
  sampler('dpm_2_ancestral', 'DPM2 a', 'karras', 'DPM-Solver 2 ancestral (A1111 backend only)', true),
  sampler('dpm_fast', 'DPM fast', 'uniform', 'DPM-Solver fast (A1111 backend only)'),
  sampler('dpm_adaptive', 'DPM adaptive', 'uniform', 'DPM-Solver adaptive; ignores the step count (A1111 backend only)'),
  sampler('restart', 'Restart', 'karras', 'Restart sampler (A1111 backend only)'),
];

export const SAMPLER_NAMES: readonly string[] = SAMPLERS.map((s) => s.name);
export const DEFAULT_SAMPLER = 'euler';

/** By our name or A1111's label, case-insensitively ("Euler a", "euler_ancestral" and "EULER A" agree). */
export function findSampler(name: string): SamplerInfo | undefined {
  const wanted = name.toLowerCase();
  return SAMPLERS.find((s) => s.name === wanted || s.label.toLowerCase() === wanted);
}

export function samplerNamed(name: string): SamplerInfo {
  const found = findSampler(name);
  if (found === undefined) throw unknownSampler(name);
  return found;
}

export function unknownSampler(name: string): UserError {
  return unknownName('sampler', name, [...SAMPLERS.map((s) => `${s.name} (${s.label})`), 'or a label with its scheduler, as "DPM++ 2M Karras"'], 'UNKNOWN_SAMPLER');
}
