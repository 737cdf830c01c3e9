import { unknownName } from '../errors.js';

/**
 * A discrete-time model's noise levels: σ_t = √((1−ᾱ_t)/ᾱ_t) for t = 0..T−1, ascending, rounded to float32
 * as A1111 has them: CompVis/stable-diffusion ldm/models/diffusion/ddpm.py register_schedule stores ᾱ in
 * float32, and k-diffusion k_diffusion/external.py DiscreteEpsDDPMDenoiser takes σ from it in float32
 * (ComfyUI's comfy/model_sampling.py ModelSamplingDiscrete rounds a float64 σ instead: up to 1.3e-5 apart).
 */
export interface SigmaTable {
  readonly name: string;
  readonly description: string;
  readonly sigmas: Float64Array;
  readonly logSigmas: Float64Array;
  /** Align Your Steps' published 11-point schedule for this model family (A1111 sd_schedulers.py). */
  readonly alignYourSteps: readonly number[];
}

export interface BetaSchedule {
  readonly linearStart: number;
  readonly linearEnd: number;
  readonly timesteps: number;
}

/** make_beta_schedule("linear") in ldm/ComfyUI, i.e. diffusers' "scaled_linear": linspace(√start, √end)². */
export function scaledLinearBetas({ linearStart, linearEnd, timesteps }: BetaSchedule): Float64Array {
  const from = Math.sqrt(linearStart);
  const to = Math.sqrt(linearEnd);
  return Float64Array.from({ length: timesteps }, (_, i) => (from + ((to - from) * i) / (timesteps - 1)) ** 2);
}

export function sigmasFromBetas(betas: Float64Array): Float64Array {
  const f32 = Math.fround;
  let cumulative = 1;
  return betas.map((beta) => {
    cumulative *= 1 - beta;
    const alphaBar = f32(cumulative);
    return f32(Math.sqrt(f32(f32(1 - alphaBar) / alphaBar)));
  });
}

export function sigmaTable(name: string, description: string, betas: BetaSchedule, alignYourSteps: readonly number[]): SigmaTable {
  const sigmas = sigmasFromBetas(scaledLinearBetas(betas));
  return { name, description, sigmas, logSigmas: sigmas.map((s) => Math.fround(Math.log(s))), alignYourSteps };
}

const STABLE_DIFFUSION_BETAS: BetaSchedule = { linearStart: 0.00085, linearEnd: 0.012, timesteps: 1000 };

/** Model families; SD2 (eps and v) shares SD1's betas, SDXL too but with its own Align Your Steps list. */
export const SIGMA_TABLES: readonly SigmaTable[] = [
  sigmaTable('sd1', 'SD 1.x / 2.x: scaled-linear betas 0.00085→0.012, 1000 steps', STABLE_DIFFUSION_BETAS,
    [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]),
  sigmaTable('sdxl', 'SDXL: the same betas as SD 1.x, with SDXL\'s Align Your Steps schedule', STABLE_DIFFUSION_BETAS,
    [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029]),
];

export function sigmaTableNamed(name: string): SigmaTable {
  const table = SIGMA_TABLES.find((t) => t.name === name);
  if (table === undefined) throw unknownName('model table', name, SIGMA_TABLES.map((t) => t.name), 'UNKNOWN_SIGMA_TABLE');
  return table;
}

export const sigmaMin = (table: SigmaTable): number => table.sigmas[0]!;
export const sigmaMax = (table: SigmaTable): number => table.sigmas[table.sigmas.length - 1]!;

/** k-diffusion DiscreteSchedule.t_to_sigma: log-linear between the table entries around t. */
export function timestepToSigma(table: SigmaTable, t: number): number {
  const last = table.sigmas.length - 1;
  const clamped = Math.min(Math.max(t, 0), last);
  const low = Math.floor(clamped);
  const high = Math.ceil(clamped);
  const w = clamped - low;
  return Math.exp((1 - w) * table.logSigmas[low]! + w * table.logSigmas[high]!);
}

/** k-diffusion DiscreteSchedule.sigma_to_t (quantize=False): fractional t between the bracketing entries. */
export function sigmaToTimestep(table: SigmaTable, sigma: number): number {
  const logSigma = Math.log(sigma);
  const logs = table.logSigmas;
  let low = 0;
  for (let i = 0; i < logs.length; i++) if (logSigma - logs[i]! >= 0) low = i;
  low = Math.min(low, logs.length - 2);
  const w = Math.min(Math.max((logs[low]! - logSigma) / (logs[low]! - logs[low + 1]!), 0), 1);
  return (1 - w) * low + w * (low + 1);
}
