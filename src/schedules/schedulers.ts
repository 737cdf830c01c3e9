import { unknownName } from '../errors.js';
import { roundHalfEven } from '../latent/rounding.js';
import { betaQuantile } from './beta-distribution.js';
import { sigmaMax, sigmaMin, sigmaToTimestep, timestepToSigma, type SigmaTable } from './sigma-table.js';

// Every scheduler turns a step count n into n+1 descending sigmas ending in 0 (fewer where the source
// deduplicates, as ComfyUI's beta does). Formulas: crowsonkb/k-diffusion k_diffusion/sampling.py
// (get_sigmas_karras, _exponential, _polyexponential) and k_diffusion/external.py (DiscreteSchedule), A1111
// modules/sd_schedulers.py, ComfyUI comfy/samplers.py (simple, ddim, beta, kl_optimal, linear_quadratic);
// test/reference/schedules_reference.py transcribes each and the tests hold these to it.

export interface Scheduler {
  readonly name: string;
  /** A1111's label where A1111 ≥ 1.9 has this scheduler, so requests may use either spelling. */
  readonly label?: string;
  /** Further spellings accepted on input (A1111's internal names). */
  readonly aliases?: readonly string[];
  readonly description: string;
  /** Absent only for `automatic`, which stands for the sampler's default scheduler. */
  readonly sigmas?: (steps: number, table: SigmaTable) => number[];
  /**
   * Where stock A1111 v1.10's scheduler of the same label computes another schedule than this one (ours
   * is ComfyUI's, as the companion's is): how. Such a scheduler only runs on companion instances, so that
   * one name gives one schedule whichever instance takes the job.
   */
  readonly a1111Differs?: string;
}


export function linspace(from: number, to: number, count: number): number[] {
  if (count === 1) return [from];
  return Array.from({ length: count }, (_, i) => from + ((to - from) * i) / (count - 1));
}

const withZero = (sigmas: number[]): number[] => [...sigmas, 0];

/** k-diffusion get_sigmas_karras: ρ-th-root spacing between σmax and σmin. */
export function karras(steps: number, min: number, max: number, rho = 7): number[] {
  const maxRoot = max ** (1 / rho);
  const minRoot = min ** (1 / rho);
  return withZero(linspace(0, 1, steps).map((ramp) => (maxRoot + ramp * (minRoot - maxRoot)) ** rho));
}

/** k-diffusion get_sigmas_polyexponential; with the default ρ = 1 it is exactly get_sigmas_exponential. */
export function polyexponential(steps: number, min: number, max: number, rho = 1): number[] {
  return withZero(linspace(1, 0, steps).map((ramp) => Math.exp(ramp ** rho * (Math.log(max) - Math.log(min)) + Math.log(min))));
}

/** Timesteps spaced evenly from t(σmax) to t(σmin), mapped through the table (k-diffusion get_sigmas). */
function evenTimesteps(steps: number, table: SigmaTable, dropLast: boolean): number[] {
  const first = sigmaToTimestep(table, sigmaMax(table));
  const last = sigmaToTimestep(table, sigmaMin(table));
  const ts = dropLast ? linspace(first, last, steps + 1).slice(0, -1) : linspace(first, last, steps);
  return withZero(ts.map((t) => timestepToSigma(table, t)));
}

/** Every (len/n)-th table entry from the top: ComfyUI's and A1111's "simple", the extension's favourite. */
function simple(steps: number, table: SigmaTable): number[] {
  const stride = table.sigmas.length / steps;
  return withZero(Array.from({ length: steps }, (_, x) => table.sigmas[table.sigmas.length - 1 - Math.trunc(x * stride)]!));
}

/** ComfyUI ddim_scheduler: table entries 1, 1+s, 1+2s, … with s = ⌊len/n⌋, reversed, after a leading 0. */
function ddimUniform(steps: number, table: SigmaTable): number[] {
  const stride = Math.max(Math.trunc(table.sigmas.length / steps), 1);
  const picked: number[] = [];
  for (let x = 1; x < table.sigmas.length; x += stride) picked.push(table.sigmas[x]!);
  return [...picked.reverse(), 0];
}

/** ComfyUI beta_scheduler (α = β = 0.6): timesteps at Beta quantiles, consecutive duplicates dropped. */
function beta(steps: number, table: SigmaTable, alpha = 0.6, betaParameter = 0.6): number[] {
  const last = table.sigmas.length - 1;
  const timesteps = Array.from({ length: steps }, (_, i) => roundHalfEven(betaQuantile(1 - i / steps, alpha, betaParameter) * last));
  const distinct = timesteps.filter((t, i) => i === 0 || t !== timesteps[i - 1]);
  return withZero(distinct.map((t) => table.sigmas[t]!));
}

/** ComfyUI kl_optimal_scheduler: evenly spaced in arctan σ, then 0. */
function klOptimal(steps: number, table: SigmaTable): number[] {
  const [min, max] = [Math.atan(sigmaMin(table)), Math.atan(sigmaMax(table))];
  return withZero(linspace(0, 1, steps).map((a) => Math.tan(a * min + (1 - a) * max)));
}

/** ComfyUI linear_quadratic_schedule (from Mochi): linear to 0.025 over half the steps, quadratic after. */
function linearQuadratic(steps: number, table: SigmaTable, threshold = 0.025): number[] {
  if (steps === 1) return [sigmaMax(table), 0];
  const linearSteps = Math.trunc(steps / 2);
  const linear = Array.from({ length: linearSteps }, (_, i) => (i * threshold) / linearSteps);
  const stepDiff = linearSteps - threshold * steps;
  const quadraticSteps = steps - linearSteps;
  const quadraticCoefficient = stepDiff / (linearSteps * quadraticSteps ** 2);
  const linearCoefficient = threshold / linearSteps - (2 * stepDiff) / quadraticSteps ** 2;
  const constant = quadraticCoefficient * linearSteps ** 2;
  const quadratic = Array.from({ length: steps - linearSteps }, (_, k) => {
    const i = linearSteps + k;
    return quadraticCoefficient * i * i + linearCoefficient * i + constant;
  });
  return [...linear, ...quadratic, 1].map((v) => (1 - v) * sigmaMax(table));
}

/** A1111 get_align_your_steps_sigmas: the published list, log-linearly resampled when n ≠ its length. */
function alignYourSteps(steps: number, table: SigmaTable): number[] {
  const base = table.alignYourSteps;
  if (steps === base.length) return withZero([...base]);
  const ascendingLogs = [...base].reverse().map(Math.log);
  const resampled = linspace(0, 1, steps).map((x) => Math.exp(interpolate(x, linspace(0, 1, base.length), ascendingLogs)));
  return withZero(resampled.reverse());
}

/** numpy.interp for increasing xs. */
function interpolate(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) return ys[i - 1]! + ((ys[i]! - ys[i - 1]!) * (x - xs[i - 1]!)) / (xs[i]! - xs[i - 1]!);
  }
  return ys[ys.length - 1]!;
}

export const SCHEDULERS: readonly Scheduler[] = [
  { name: 'simple', label: 'Simple', description: 'every (1000/n)-th table sigma from the top; the extension\'s crisp default, high sigmas kept', sigmas: simple },
  { name: 'normal', label: 'Normal', description: 'timesteps evenly spaced from t(σmax) to t(σmin): the classic k-diffusion schedule', sigmas: (n, table) => evenTimesteps(n, table, false) },
  { name: 'karras', label: 'Karras', description: 'Karras et al. ρ=7 spacing: many small-sigma steps, fine detail, starts lower at partial denoise', sigmas: (n, table) => karras(n, sigmaMin(table), sigmaMax(table)) },
  { name: 'exponential', label: 'Exponential', description: 'sigmas evenly spaced in log σ: even more weight on low noise than karras', sigmas: (n, table) => polyexponential(n, sigmaMin(table), sigmaMax(table)) },
  { name: 'polyexponential', label: 'Polyexponential', description: 'log σ ramp raised to ρ; with the default ρ=1 (A1111 and the extension) identical to exponential', sigmas: (n, table) => polyexponential(n, sigmaMin(table), sigmaMax(table), 1) },
  { name: 'automatic', label: 'Automatic', description: 'the sampler\'s own default, as A1111 picks it (karras for DPM++ 2M, exponential for the SDE samplers, else uniform)' },
  { name: 'uniform', label: 'Uniform', description: 'k-diffusion get_sigmas: t = linspace(999, 0, n); same values as normal for SD tables', sigmas: (n, table) => withZero(linspace(table.sigmas.length - 1, 0, n).map((t) => timestepToSigma(table, t))) },
  { name: 'sgm_uniform', label: 'SGM Uniform', aliases: ['SGMUniform'], description: 'n+1 even timesteps with the last dropped: never reaches σmin before the final 0 (SDXL-Turbo/LCM style)', sigmas: (n, table) => evenTimesteps(n, table, true) },
  { name: 'ddim_uniform', label: 'DDIM', aliases: ['ddim'], description: 'ComfyUI ddim_uniform: every ⌊1000/n⌋-th table sigma from t=1 up, starts below σmax', sigmas: ddimUniform },
  {
    name: 'beta', label: 'Beta', description: 'ComfyUI beta (α=β=0.6): timesteps at Beta quantiles, dense at both ends', sigmas: (n, table) => beta(n, table),
    a1111Differs: 'stock A1111 v1.10.1 spaces its beta schedule linearly in σ between the quantiles (modules/sd_schedulers.py beta_scheduler)',
  },
  {
    name: 'kl_optimal', label: 'KL Optimal', description: 'ComfyUI kl_optimal: evenly spaced in arctan σ, drops fast from σmax', sigmas: klOptimal,
    a1111Differs: 'stock A1111 v1.10.1 ends its kl_optimal at σmin with no final 0 (modules/sd_schedulers.py kl_optimal)',
  },
  { name: 'linear_quadratic', description: 'ComfyUI linear_quadratic (Mochi): built for flow models; on SD it stays near σmax for most steps', sigmas: (n, table) => linearQuadratic(n, table) },
  { name: 'align_your_steps', label: 'Align Your Steps', description: 'NVIDIA Align Your Steps list for the model family (A1111), log-linearly resampled to n', sigmas: alignYourSteps },
];

export const SCHEDULER_NAMES: readonly string[] = SCHEDULERS.map((s) => s.name);

/** Looks a scheduler up by our name or A1111's label (case-insensitive, as A1111's map accepts both). */
export function schedulerNamed(name: string): Scheduler {
  const wanted = name.toLowerCase();
  const scheduler = SCHEDULERS.find((s) => [s.name, s.label ?? '', ...(s.aliases ?? [])].some((n) => n.toLowerCase() === wanted));
  if (scheduler === undefined) throw unknownName('scheduler', name, SCHEDULER_NAMES, 'UNKNOWN_SCHEDULER');
  return scheduler;
}
