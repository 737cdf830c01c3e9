import t from 'tap';
import { NATIVE_SAMPLERS, ancestralStep, lmsCoefficient, type SamplerContext } from '../../src/samplers/k-diffusion.js';
import { karras } from '../../src/schedules/schedulers.js';

// Data at ±1 with equal weight has the exact denoiser D(x, σ) = tanh(x/σ²); the probability-flow ODE
// dx/dσ = (x − D(x, σ))/σ is then solved to 1e-12 by classical RK4 in float64 with 20000 steps, written
// here independently of the samplers. Each sampler's error against it shrinks with the step count at the
// rate of its order.
const mixture = (x: number, sigma: number): number => Math.tanh(x / sigma ** 2);
const denoise = async (x: Float32Array, sigma: number): Promise<Float32Array> => x.map((v) => mixture(v, sigma));
const noNoise = (): Float32Array => new Float32Array(1);

function reference(x0: number, from: number, to: number): number {
  const f = (x: number, sigma: number): number => (x - mixture(x, sigma)) / sigma;
  const n = 20000;
  const h = (to - from) / n;
  let x = x0;
  for (let k = 0; k < n; k++) {
    const s = from + k * h;
    const k1 = f(x, s);
    const k2 = f(x + (h / 2) * k1, s + h / 2);
    const k3 = f(x + (h / 2) * k2, s + h / 2);
    const k4 = f(x + h * k3, s + h);
    x += (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  return x;
}

/** A karras schedule from 5 down to 0.5 (no final 0, so every step is a true ODE step). */
function schedule(steps: number): number[] {
  return karras(steps, 0.5, 5).slice(0, -1);
}

const X0 = 0.8;
const TARGET = reference(X0, 5, 0.5);

async function error(name: string, steps: number): Promise<number> {
  const out = await NATIVE_SAMPLERS[name]!(new Float32Array([X0]), denoise, { sigmas: schedule(steps), noise: noNoise });
  return Math.abs(out[0]! - TARGET);
}

const ORDERS: Record<string, number> = { euler: 1, ddim: 1, heun: 2, dpmpp_2m: 2, lms: 3 };

for (const [name, order] of Object.entries(ORDERS)) {
  t.test(`${name}: error shrinks like h^${order} on the two-point ODE`, async (t) => {
    const coarse = await error(name, 12);
    const fine = await error(name, 24);
    const observed = Math.log2(coarse / fine);
    t.ok(observed > order - 0.35, `observed order ${observed.toFixed(2)} (errors ${coarse.toExponential(2)} -> ${fine.toExponential(2)})`);
    const converged = await error(name, 400);
    t.ok(converged < 5e-3, `converges to the reference: error ${converged.toExponential(2)} at 400 steps`);
  });
}

t.test('every sampler lands on the exact value at σ = 0 for the single-point distribution', async (t) => {
  // Data at exactly 0.3: D(x, σ) = 0.3 for every x and σ, so any consistent sampler ends at 0.3.
  const point = async (x: Float32Array): Promise<Float32Array> => x.map(() => 0.3);
  const sigmas = karras(8, 0.03, 14.6);
  for (const [name, sampler] of Object.entries(NATIVE_SAMPLERS)) {
    const out = await sampler(new Float32Array([5, -5]), point, { sigmas, noise: () => new Float32Array([0.7, -1.1]) });
    t.ok(Math.abs(out[0]! - 0.3) < 1e-5 && Math.abs(out[1]! - 0.3) < 1e-5, `${name}: ${Array.from(out)}`);
  }
});

t.test('progress: one callback per sampled step, numbered 1..n, and a throw cancels', async (t) => {
  const sigmas = karras(6, 0.03, 14.6);
  for (const [name, sampler] of Object.entries(NATIVE_SAMPLERS)) {
    const steps: number[] = [];
    await sampler(new Float32Array(4), denoise, { sigmas, noise: () => new Float32Array(4), onStep: (step) => void steps.push(step) });
    t.same(steps, [1, 2, 3, 4, 5, 6], name);
    const context: SamplerContext = { sigmas, noise: () => new Float32Array(4), onStep: (step) => { if (step === 2) throw new Error('cancelled'); } };
    await t.rejects(sampler(new Float32Array(4), denoise, context), { message: 'cancelled' }, `${name} stops`);
  }
});

t.test('ancestral step: σ_up² + σ_down² = σ_next², and no noise at the last step', async (t) => {
  const { down, up } = ancestralStep(2, 1);
  t.ok(Math.abs(down ** 2 + up ** 2 - 1) < 1e-12);
  t.ok(Math.abs(up - Math.sqrt(1 * (4 - 1) / 4)) < 1e-12, 'σ_up = √(σn²(σ² − σn²)/σ²)');
  t.same(ancestralStep(2, 0), { down: 0, up: 0 });
  t.same(ancestralStep(2, 1, 0), { down: 1, up: 0 });
});

t.test('LMS weights integrate the Lagrange basis: they sum to the step length and are exact for polynomials', async (t) => {
  const sigmas = [10, 7, 4.5, 3, 2, 1.2];
  const i = 4;
  const weights = [0, 1, 2, 3].map((j) => lmsCoefficient(4, sigmas, i, j));
  t.ok(Math.abs(weights.reduce((a, b) => a + b, 0) - (sigmas[i + 1]! - sigmas[i]!)) < 1e-12, 'Σw = σ_{i+1} − σ_i');
  // Integrating f(τ) = τ³ from the four nodes must be exact: Σ w_j f(σ_{i−j}) = (σ_{i+1}⁴ − σ_i⁴)/4.
  const cubic = weights.reduce((sum, w, j) => sum + w * sigmas[i - j]! ** 3, 0);
  t.ok(Math.abs(cubic - (sigmas[i + 1]! ** 4 - sigmas[i]! ** 4) / 4) < 1e-9);
});

t.test('stochastic samplers use the noise they are given, deterministically', async (t) => {
  const sigmas = karras(5, 0.03, 14.6);
  for (const name of ['euler_ancestral', 'dpmpp_2m_sde']) {
    let draws = 0;
    const run = (value: number): Promise<Float32Array> => NATIVE_SAMPLERS[name]!(new Float32Array([1, 2]), denoise, { sigmas, noise: () => { draws++; return new Float32Array([value, -value]); } });
    const a = await run(0.5);
    const b = await run(0.5);
    const c = await run(-0.5);
    t.same(Array.from(a), Array.from(b), `${name}: same noise, same result`);
    t.not(a[0], c[0], `${name}: other noise, other result`);
    t.equal(draws, 3 * 4, `${name}: one draw per step except the last (σ_next = 0)`);
  }
});
