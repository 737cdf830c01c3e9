import { combine, toD, type Vector } from './vector.js';

// The native samplers, after k-diffusion's sampling.py: each a short function over a denoise(x, σ)
// callback (crowsonkb/k-diffusion k_diffusion/sampling.py sample_euler, sample_dpmpp_2m, …; to_d and
// get_ancestral_step there too). Stochastic ones draw noise from the context, which the pipeline feeds
// from the seeded torch-compatible generator.

export type Denoiser = (x: Vector, sigma: number) => Promise<Vector>;

export interface SamplerContext {
  /** The schedule, descending, last value 0. */
  readonly sigmas: readonly number[];
  /** Standard normal noise shaped like x (ancestral and SDE samplers). */
  readonly noise: () => Vector;
  /** After each step, with the 1-based step number; may throw to cancel. */
  readonly onStep?: (step: number, x: Vector) => void | Promise<void>;
}

export type Sampler = (x: Vector, denoise: Denoiser, context: SamplerContext) => Promise<Vector>;

/** get_ancestral_step with η = 1: how far to step deterministically (down) and how much noise to add (up). */
export function ancestralStep(sigma: number, next: number, eta = 1): { down: number; up: number } {
  if (eta === 0 || next === 0) return { down: next, up: 0 };
  const up = Math.min(next, eta * Math.sqrt((next ** 2 * (sigma ** 2 - next ** 2)) / sigma ** 2));
  return { down: Math.sqrt(next ** 2 - up ** 2), up };
}

async function loop(x: Vector, context: SamplerContext, step: (x: Vector, i: number, sigma: number, next: number) => Promise<Vector>): Promise<Vector> {
  const { sigmas } = context;
  for (let i = 0; i < sigmas.length - 1; i++) {
    x = await step(x, i, sigmas[i]!, sigmas[i + 1]!);
    await context.onStep?.(i + 1, x);
  }
  return x;
}

export const euler: Sampler = (x, denoise, context) => loop(x, context, async (x, _i, sigma, next) =>
  combine([[1, x], [next - sigma, toD(x, sigma, await denoise(x, sigma))]]));

export const eulerAncestral: Sampler = (x, denoise, context) => loop(x, context, async (x, _i, sigma, next) => {
  const { down, up } = ancestralStep(sigma, next);
  const stepped = combine([[1, x], [down - sigma, toD(x, sigma, await denoise(x, sigma))]]);
  return up > 0 ? combine([[1, stepped], [up, context.noise()]]) : stepped;
});

export const heun: Sampler = (x, denoise, context) => loop(x, context, async (x, _i, sigma, next) => {
  const d = toD(x, sigma, await denoise(x, sigma));
  const dt = next - sigma;
  if (next === 0) return combine([[1, x], [dt, d]]);
  const guess = combine([[1, x], [dt, d]]);
  const d2 = toD(guess, next, await denoise(guess, next));
  return combine([[1, x], [dt / 2, d], [dt / 2, d2]]);
});

/** DDIM with η = 0: x_next = denoised + σ_next · ε̂. In σ-space this is the same update as Euler. */
export const ddim: Sampler = (x, denoise, context) => loop(x, context, async (x, _i, sigma, next) => {
  const denoised = await denoise(x, sigma);
  return combine([[1, denoised], [next / sigma, x], [-next / sigma, denoised]]);
});

/** Linear multistep, order 4: Lagrange weights of the last derivatives, integrated exactly over [σ_i, σ_i+1]. */
export const lms: Sampler = async (x, denoise, context) => {
  const derivatives: Vector[] = [];
  return loop(x, context, async (x, i, sigma) => {
    derivatives.push(toD(x, sigma, await denoise(x, sigma)));
    if (derivatives.length > 4) derivatives.shift();
    const order = derivatives.length;
    const terms = Array.from({ length: order }, (_, j) => [lmsCoefficient(order, context.sigmas, i, j), derivatives[order - 1 - j]!] as const);
    return combine([[1, x], ...terms]);
  });
};

/** ∫_{σ_i}^{σ_{i+1}} Π_{k≠j} (τ − σ_{i−k}) / (σ_{i−j} − σ_{i−k}) dτ, by expanding the polynomial. */
export function lmsCoefficient(order: number, sigmas: readonly number[], i: number, j: number): number {
  let polynomial = [1]; // coefficients, lowest power first
  for (let k = 0; k < order; k++) {
    if (k === j) continue;
    const root = sigmas[i - k]!;
    const scale = 1 / (sigmas[i - j]! - root);
    const next = new Array<number>(polynomial.length + 1).fill(0);
    polynomial.forEach((c, power) => {
      next[power + 1]! += c * scale;
      next[power]! -= c * root * scale;
    });
    polynomial = next;
  }
  const integral = (t: number): number => polynomial.reduce((sum, c, power) => sum + (c * t ** (power + 1)) / (power + 1), 0);
  return integral(sigmas[i + 1]!) - integral(sigmas[i]!);
}

/** DPM-Solver++(2M): second order from the previous denoised estimate, in log-σ time. */
export const dpmpp2m: Sampler = async (x, denoise, context) => {
  let previous: Vector | undefined;
  return loop(x, context, async (x, i, sigma, next) => {
    const denoised = await denoise(x, sigma);
    const h = Math.log(sigma) - Math.log(next);
    let estimate = denoised;
    if (previous !== undefined && next !== 0) {
      const r = (Math.log(context.sigmas[i - 1]!) - Math.log(sigma)) / h;
      estimate = combine([[1 + 1 / (2 * r), denoised], [-1 / (2 * r), previous]]);
    }
    previous = denoised;
    return next === 0 ? denoised : combine([[next / sigma, x], [-Math.expm1(-h), estimate]]);
  });
};

/**
 * DPM-Solver++(2M) SDE, η = 1, midpoint. k-diffusion draws its noise from a Brownian tree (torchsde);
 * here it is plain N(0, 1) from the seeded generator: the same distribution, not the same numbers.
 */
export const dpmpp2mSde: Sampler = async (x, denoise, context) => {
  let previous: Vector | undefined;
  let lastH: number | undefined;
  return loop(x, context, async (x, _i, sigma, next) => {
    const denoised = await denoise(x, sigma);
    let out: Vector;
    let h: number | undefined;
    if (next === 0) out = denoised;
    else {
      h = Math.log(sigma) - Math.log(next);
      const decay = -Math.expm1(-2 * h);
      const terms: [number, Vector][] = [[(next / sigma) * Math.exp(-h), x], [decay, denoised]];
      if (previous !== undefined && lastH !== undefined) {
        const r = lastH / h;
        terms.push([(0.5 * decay) / r, denoised], [(-0.5 * decay) / r, previous]);
      }
      terms.push([next * Math.sqrt(-Math.expm1(-2 * h)), context.noise()]);
      out = combine(terms);
    }
    previous = denoised;
    lastH = h;
    return out;
  });
};

/** The samplers the ONNX backend runs, by catalog name. */
export const NATIVE_SAMPLERS: Readonly<Record<string, Sampler>> = {
  euler,
  euler_ancestral: eulerAncestral,
  heun,
  lms,
  dpmpp_2m: dpmpp2m,
  dpmpp_2m_sde: dpmpp2mSde,
  ddim,
};
