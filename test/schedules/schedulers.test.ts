import t from 'tap';
import { SCHEDULERS, karras, linspace, polyexponential, schedulerNamed } from '../../src/schedules/schedulers.js';
import { sigmaMax, sigmaMin, sigmaTableNamed } from '../../src/schedules/sigma-table.js';

const sd1 = sigmaTableNamed('sd1');
const run = (name: string, steps: number, table = sd1): number[] => schedulerNamed(name).sigmas!(steps, table);

// Check values for 10 steps from latent-math.md §4.4 and a1111-and-extension.md §1.5 (numpy, 4 decimals).
const CHECK_VALUES: Record<string, number[]> = {
  normal: [14.6146, 7.8399, 4.6092, 2.9183, 1.9502, 1.3449, 0.9324, 0.625, 0.3687, 0.0292, 0],
  uniform: [14.6146, 7.8399, 4.6092, 2.9183, 1.9502, 1.3449, 0.9324, 0.625, 0.3687, 0.0292, 0],
  sgm_uniform: [14.6146, 8.3072, 5.0924, 3.3251, 2.2797, 1.6156, 1.1629, 0.8319, 0.5712, 0.3437, 0],
  karras: [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292, 0],
  exponential: [14.6146, 7.3249, 3.6712, 1.84, 0.9222, 0.4622, 0.2317, 0.1161, 0.0582, 0.0292, 0],
  polyexponential: [14.6146, 7.3249, 3.6712, 1.84, 0.9222, 0.4622, 0.2317, 0.1161, 0.0582, 0.0292, 0],
  simple: [14.6146, 8.3028, 5.0878, 3.3211, 2.2765, 1.6129, 1.1606, 0.8299, 0.5693, 0.3417, 0],
  ddim_uniform: [8.3907, 5.1344, 3.3478, 2.2929, 1.6237, 1.1682, 0.8357, 0.5741, 0.3462, 0.0413, 0],
  beta: [14.6146, 11.5428, 7.3718, 4.3728, 2.6152, 1.6183, 1.0273, 0.6549, 0.3955, 0.1991, 0],
  kl_optimal: [14.6146, 4.2324, 2.3937, 1.5971, 1.133, 0.8152, 0.5729, 0.3725, 0.1953, 0.0292, 0],
};
const CHECK_TOLERANCE = 1.5e-4;

for (const [name, expected] of Object.entries(CHECK_VALUES)) {
  t.test(`${name}, 10 steps, equals the reference check values`, async (t) => {
    const sigmas = run(name, 10);
    t.equal(sigmas.length, 11);
    const worst = Math.max(...sigmas.map((s, i) => Math.abs(s - expected[i]!)));
    t.ok(worst <= CHECK_TOLERANCE, `max deviation ${worst.toExponential(2)}`);
  });
}

t.test('beta picks timesteps 999 959 876 765 637 500 362 234 123 40', async (t) => {
  const timesteps = [999, 959, 876, 765, 637, 500, 362, 234, 123, 40];
  t.same(run('beta', 10).slice(0, -1), timesteps.map((i) => sd1.sigmas[i]!));
});

t.test('simple and ddim_uniform pick exact table entries', async (t) => {
  t.same(run('simple', 4), [sd1.sigmas[999], sd1.sigmas[749], sd1.sigmas[499], sd1.sigmas[249], 0]);
  t.same(run('ddim_uniform', 4), [sd1.sigmas[751], sd1.sigmas[501], sd1.sigmas[251], sd1.sigmas[1], 0]);
});

t.test('karras and exponential from their definitions', async (t) => {
  const [min, max] = [sigmaMin(sd1), sigmaMax(sd1)];
  const k = run('karras', 3);
  t.ok(Math.abs(k[1]! - ((max ** (1 / 7) + min ** (1 / 7)) / 2) ** 7) < 1e-12, 'middle of 3 is the mean of the 7th roots, to the 7th');
  const e = run('exponential', 3);
  t.ok(Math.abs(e[1]! - Math.sqrt(min * max)) < 1e-12, 'middle of 3 is the geometric mean');
  t.same(polyexponential(5, min, max, 1), run('exponential', 5), 'polyexponential ρ=1 is exponential');
  t.not(polyexponential(5, min, max, 2)[2], run('exponential', 5)[2], 'ρ matters when set');
  t.same(karras(2, 1, 16, 1), [16, 1, 0], 'ρ=1 karras is linear');
});

t.test('kl_optimal is evenly spaced in arctan σ', async (t) => {
  const sigmas = run('kl_optimal', 4).slice(0, -1).map(Math.atan);
  const steps = sigmas.slice(1).map((a, i) => sigmas[i]! - a);
  t.ok(steps.every((s) => Math.abs(s - steps[0]!) < 1e-12));
});

t.test('linear_quadratic worked by hand for 2 and 4 steps', async (t) => {
  const max = sigmaMax(sd1);
  const close = (a: number[], b: number[]): boolean => a.every((v, i) => Math.abs(v - b[i]!) < 1e-12);
  // steps=2: linear part [0]; quadratic coefficients 0.95, -1.875, 0.95 give 0.025 at i=1; then 1 -> σ = (1 − x)·σmax.
  t.ok(close(run('linear_quadratic', 2), [1, 0.975, 0].map((v) => v * max)));
  // steps=4: linear [0, 0.0125]; quadratic 0.2375 i² − 0.9375 i + 0.95 gives 0.025 and 0.275 at i=2, 3.
  t.ok(close(run('linear_quadratic', 4), [1, 0.9875, 0.975, 0.725, 0].map((v) => v * max)));
  t.same(run('linear_quadratic', 1), [max, 0]);
});

t.test('align_your_steps: the published list at 11 steps, log-linear in between', async (t) => {
  t.same(run('align_your_steps', 11), [...sd1.alignYourSteps, 0]);
  t.same(run('align_your_steps', 11, sigmaTableNamed('sdxl')), [...sigmaTableNamed('sdxl').alignYourSteps, 0]);
  const doubled = run('align_your_steps', 21);
  const base = sd1.alignYourSteps;
  for (let i = 0; i < 11; i++) t.ok(Math.abs(doubled[2 * i]! - base[i]!) < 1e-9, `knot ${i} kept`);
  for (let i = 0; i < 10; i++) t.ok(Math.abs(doubled[2 * i + 1]! - Math.sqrt(base[i]! * base[i + 1]!)) < 1e-9, `point between knots ${i} and ${i + 1} is their geometric mean`);
});

t.test('every scheduler: descending, ends in 0, n+1 values (beta merges duplicates, ddim_uniform overshoots)', async (t) => {
  for (const scheduler of SCHEDULERS.filter((s) => s.sigmas !== undefined)) {
    for (const steps of [1, 2, 7, 30, 150]) {
      const sigmas = scheduler.sigmas!(steps, sd1);
      t.equal(sigmas[sigmas.length - 1], 0, `${scheduler.name} ${steps}: ends in 0`);
      t.ok(sigmas.every((s, i) => i === 0 || s <= sigmas[i - 1]!), `${scheduler.name} ${steps}: non-increasing`);
      if (scheduler.name === 'beta') t.ok(sigmas.length <= steps + 1);
      else if (scheduler.name === 'ddim_uniform') {
        // ComfyUI and A1111 take t = 1, 1+s, 1+2s, … below 1000 with s = ⌊1000/n⌋: more than n when n does not divide 1000.
        const stride = Math.floor(1000 / steps);
        t.equal(sigmas.length, Math.floor(998 / stride) + 2, `ddim_uniform ${steps}: length`);
      } else t.equal(sigmas.length, steps + 1, `${scheduler.name} ${steps}: length`);
    }
  }
});

t.test('names: ours, A1111 labels and aliases, case-insensitive; unknown lists ours', async (t) => {
  t.equal(schedulerNamed('Karras').name, 'karras');
  t.equal(schedulerNamed('SGM Uniform').name, 'sgm_uniform');
  t.equal(schedulerNamed('SGMUniform').name, 'sgm_uniform');
  t.equal(schedulerNamed('ddim').name, 'ddim_uniform');
  t.equal(schedulerNamed('Align Your Steps').name, 'align_your_steps');
  t.throws(() => schedulerNamed('cosine'), { message: /^unknown scheduler 'cosine' \(allowed: simple, normal, karras, exponential, polyexponential, automatic, uniform, sgm_uniform, ddim_uniform, beta, kl_optimal, linear_quadratic, align_your_steps\)$/ });
  t.same(linspace(3, 3, 1), [3]);
});
