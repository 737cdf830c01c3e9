import t from 'tap';
import { SCHEDULERS, karras, linspace, polyexponential, schedulerNamed } from '../../src/schedules/schedulers.js';
import { sigmaMax, sigmaMin, sigmaTableNamed } from '../../src/schedules/sigma-table.js';
import { FLOAT32_SCHEDULE_TOLERANCE, maxRelativeDifference, scheduleReference } from '../helpers/schedules.js';

const sd1 = sigmaTableNamed('sd1');
const run = (name: string, steps: number, table = sd1): number[] => schedulerNamed(name).sigmas!(steps, table);

// Every scheduler against upstream's own code (test/reference/schedules_reference.py) at step counts from 1
// to 150. kl_optimal has no 1-step schedule upstream: ComfyUI's kl_optimal_scheduler divides by n − 1.
const STEP_COUNTS = [1, 2, 3, 7, 10, 30, 150];
const CASES: { scheduler: string; steps: number; family: 'sd1' | 'sdxl' }[] = SCHEDULERS.filter((s) => s.sigmas !== undefined).flatMap((s) =>
  STEP_COUNTS.filter((steps) => !(s.name === 'kl_optimal' && steps === 1)).map((steps) => ({ scheduler: s.name, steps, family: 'sd1' as const })));
CASES.push({ scheduler: 'align_your_steps', steps: 11, family: 'sdxl' }, { scheduler: 'align_your_steps', steps: 21, family: 'sdxl' });
const { reference, skip } = scheduleReference({ schedules: CASES });
// Schedulers that pick table entries instead of computing sigmas: those must be the table's values exactly.
const PICKS_TABLE_ENTRIES = new Set(['simple', 'ddim_uniform', 'beta']);

t.test('every scheduler equals its upstream code (A1111, ComfyUI, k-diffusion) over the SD table', { skip }, async (t) => {
  CASES.forEach((c, i) => {
    const ours = run(c.scheduler, c.steps, sigmaTableNamed(c.family));
    const theirs = reference!.schedules[i]!;
    const what = `${c.scheduler}, ${c.steps} steps${c.family === 'sd1' ? '' : `, ${c.family}`}`;
    if (PICKS_TABLE_ENTRIES.has(c.scheduler)) {
      t.same(ours, theirs, `${what}: the same table entries`);
    } else {
      const difference = maxRelativeDifference(ours, theirs);
      t.ok(difference <= FLOAT32_SCHEDULE_TOLERANCE, `${what}: max relative difference ${difference.toExponential(1)} (${ours.length} of ${theirs.length} values)`);
    }
  });
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
