import { pythonWith, runPythonJson } from './python.js';

// Schedules from their published formulas, in float64, for tests that check the service's plumbing (CLI,
// HTTP) without PyTorch; and the reference that the full scheduler set is held to
// (test/reference/schedules_reference.py).

/**
 * SD 1.x's σmin and σmax: CompVis/stable-diffusion ldm/modules/diffusionmodules/util.py make_beta_schedule
 * ("linear": β = linspace(√0.00085, √0.012, 1000)², configs/stable-diffusion/v1-inference.yaml), ᾱ = ∏(1 − β),
 * σ = √((1 − ᾱ)/ᾱ) (crowsonkb/k-diffusion k_diffusion/external.py DiscreteEpsDDPMDenoiser); ascending in t.
 */
export function sd1SigmaRange(): { readonly min: number; readonly max: number } {
  const [from, to, count] = [Math.sqrt(0.00085), Math.sqrt(0.012), 1000];
  let alphaBar = 1;
  const sigmas: number[] = [];
  for (let i = 0; i < count; i++) {
    alphaBar *= 1 - (from + ((to - from) * i) / (count - 1)) ** 2;
    sigmas.push(Math.sqrt((1 - alphaBar) / alphaBar));
  }
  return { min: sigmas[0]!, max: sigmas[count - 1]! };
}

/**
 * How far (relative) the service's sigmas may be from the float64 formulas here: its table holds ᾱ in float32,
 * as CompVis/stable-diffusion ldm/models/diffusion/ddpm.py register_schedule stores alphas_cumprod. Half a
 * float32 ulp of ᾱ ≈ 1 (3e-8) over 1 − ᾱ at σmin (8.5e-4) is 3.5e-5 of 1 − ᾱ, half that (1.8e-5) of
 * σ = √((1 − ᾱ)/ᾱ); the bound leaves room for the other float32 roundings.
 */
export const FLOAT32_TABLE_TOLERANCE = 3e-5;

/** crowsonkb/k-diffusion k_diffusion/sampling.py get_sigmas_karras: n sigmas with ρ-th-root spacing, then 0. */
export function karrasByFormula(n: number, min: number, max: number, rho = 7): number[] {
  const ramp = (i: number): number => (n === 1 ? 0 : i / (n - 1));
  return [...Array.from({ length: n }, (_, i) => (max ** (1 / rho) + ramp(i) * (min ** (1 / rho) - max ** (1 / rho))) ** rho), 0];
}

/** Largest |a − b| / |b| (|a − b| where b is 0); Infinity when the lengths differ. */
export function maxRelativeDifference(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  return Math.max(0, ...a.map((value, i) => Math.abs(value - b[i]!) / (b[i] === 0 ? 1 : Math.abs(b[i]!))));
}

export interface ScheduleReference {
  readonly torch: string;
  /** The SD 1.x table, ascending, as A1111 holds it (float32 values). */
  readonly table: number[];
  readonly log_table: number[];
  readonly schedules: number[][];
  readonly img2img: number[][];
  readonly comfy_denoise: number[][];
}

export interface ScheduleReferenceRequest {
  readonly schedules?: readonly { readonly scheduler: string; readonly steps: number; readonly family?: 'sd1' | 'sdxl' }[];
  readonly img2img?: readonly { readonly scheduler: string; readonly steps: number; readonly denoise: number; readonly fix_steps: boolean; readonly discard_penultimate?: boolean }[];
  readonly comfy_denoise?: readonly { readonly scheduler: 'normal' | 'simple'; readonly steps: number; readonly denoise: number }[];
}

/**
 * Upstream's schedules for `request` (test/reference/schedules_reference.py, which transcribes A1111,
 * ComfyUI and k-diffusion in their own dtypes), or tap's skip reason when there is no python3 with torch
 * and numpy (a failure under CI=true, see missingReference).
 */
export function scheduleReference(request: ScheduleReferenceRequest): { readonly reference?: ScheduleReference; readonly skip: string | false } {
  const python = pythonWith(['torch', 'numpy']);
  if (python.skip !== false) return { skip: python.skip };
  return { reference: runPythonJson<ScheduleReference>(python.python, 'schedules_reference.py', request), skip: false };
}

/**
 * How far (relative) the service's float64 schedules may be from upstream's float32 ones: each float32
 * operation rounds by up to 2^-24 (6e-8) of its result, a fractional timestep near 999 by 3e-5 of a step,
 * and karras raises a float32 sum to the 7th power: a few 1e-7 in all (2e-6 at worst, kl_optimal's tan near
 * σmax). 1e-5 leaves room for that; a different formula or step rule lands orders of magnitude outside.
 */
export const FLOAT32_SCHEDULE_TOLERANCE = 1e-5;
