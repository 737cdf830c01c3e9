import t from 'tap';
import { img2imgSchedule, img2imgStepCounts, type Img2imgRequest } from '../../src/schedules/img2img-steps.js';
import { samplerNamed } from '../../src/samplers/catalog.js';
import { schedulerNamed } from '../../src/schedules/schedulers.js';
import { sigmaTableNamed } from '../../src/schedules/sigma-table.js';

const table = sigmaTableNamed('sd1');
const request = (overrides: Partial<Img2imgRequest>): Img2imgRequest => ({
  scheduler: 'normal', steps: 30, denoise: 0.4, fixSteps: true, sampler: 'euler', table, ...overrides,
});

t.test('step counts: the README example, fix steps on and off (a1111-and-extension.md §2.3)', async (t) => {
  t.same(img2imgStepCounts(30, 0.4, true), { scheduleSteps: 75, denoisingSteps: 30 });
  t.same(img2imgStepCounts(30, 0.4, false), { scheduleSteps: 30, denoisingSteps: 13 }, 'int(0.4·30) + 1 = 13, not the README\'s 12');
  t.same(img2imgStepCounts(20, 0.3, true), { scheduleSteps: 66, denoisingSteps: 20 }, 'int(20/0.3) = 66 truncates');
  t.same(img2imgStepCounts(30, 1, true), { scheduleSteps: 30, denoisingSteps: 30 }, 'denoise 1 is capped at 0.999: int(30/0.999) = 30');
  t.same(img2imgStepCounts(30, 1, false), { scheduleSteps: 30, denoisingSteps: 30 });
});

t.test('steps 30, denoise 0.4: starting sigmas from the reference', async (t) => {
  const cases: [string, boolean, number, number][] = [
    ['normal', true, 1.1324, 31], ['simple', true, 1.1606, 31], ['karras', true, 0.6576, 31], ['exponential', true, 0.3334, 31],
    ['normal', false, 1.2166, 14], ['karras', false, 0.7558, 14],
  ];
  for (const [scheduler, fixSteps, start, length] of cases) {
    const { sigmas } = img2imgSchedule(request({ scheduler, fixSteps }));
    t.ok(Math.abs(sigmas[0]! - start) < 1.5e-4, `${scheduler} fix=${fixSteps} starts at ${sigmas[0]!.toFixed(4)} (reference ${start})`);
    t.equal(sigmas.length, length, `${scheduler} fix=${fixSteps}: ${length - 1} steps`);
    t.equal(sigmas[sigmas.length - 1], 0);
  }
});

t.test('the sampled part is the tail of the full schedule', async (t) => {
  const schedule = img2imgSchedule(request({ scheduler: 'karras' }));
  t.equal(schedule.scheduleSteps, 75);
  t.equal(schedule.fullSigmas.length, 76);
  t.same(schedule.sigmas, schedule.fullSigmas.slice(45), 'A1111 slices from steps - t_enc - 1 = 75 - 29 - 1 = 45');
});

t.test('ComfyUI check: normal, 10 steps, denoise 0.5 (latent-math.md §4.4)', async (t) => {
  const expected = [1.4806, 1.2458, 1.0481, 0.8784, 0.7297, 0.5964, 0.4736, 0.3555, 0.2322, 0.0292, 0];
  const { sigmas } = img2imgSchedule(request({ steps: 10, denoise: 0.5 }));
  t.ok(sigmas.every((s, i) => Math.abs(s - expected[i]!) < 1.5e-4));
});

t.test('automatic resolves per sampler as A1111 does', async (t) => {
  const resolved = (sampler: string): string => img2imgSchedule(request({ scheduler: 'automatic', sampler })).scheduler;
  t.equal(resolved('euler'), 'uniform');
  t.equal(resolved('Euler a'), 'uniform');
  t.equal(resolved('dpmpp_2m'), 'karras');
  t.equal(resolved('DPM++ 2M'), 'karras');
  t.equal(resolved('DPM++ 2M SDE'), 'exponential');
  t.equal(resolved('dpmpp_3m_sde'), 'exponential');
  t.equal(resolved('ddim'), 'ddim_uniform');
  t.same(
    img2imgSchedule(request({ scheduler: 'Automatic', sampler: 'DPM++ 2M' })).sigmas,
    img2imgSchedule(request({ scheduler: 'karras', sampler: 'DPM++ 2M' })).sigmas,
  );
});

t.test('DPM2 drops the penultimate sigma of an n+1-step schedule', async (t) => {
  const full = schedulerNamed('karras').sigmas!(11, table);
  const schedule = img2imgSchedule(request({ scheduler: 'karras', sampler: 'DPM2', steps: 10, denoise: 1 }));
  t.same(schedule.sigmas, [...full.slice(0, 10), 0]);
  t.equal(samplerNamed('dpm_2').discardPenultimateSigma, true);
});

t.test('beta merges duplicate timesteps; the tail still runs the requested steps', async (t) => {
  const schedule = img2imgSchedule(request({ scheduler: 'beta', steps: 400, denoise: 0.1 }));
  t.ok(schedule.fullSigmas.length < schedule.scheduleSteps + 1, 'the full schedule is shorter than 4001');
  t.equal(schedule.sigmas.length, 401);
});

t.test('bad input is refused with the field and the allowed range', async (t) => {
  t.throws(() => img2imgSchedule(request({ steps: 0 })), { message: 'steps must be an integer from 1 to 1000; got 0' });
  t.throws(() => img2imgSchedule(request({ steps: 2.5 })), { message: /steps must be an integer/ });
  t.throws(() => img2imgSchedule(request({ denoise: 0 })), { message: 'denoise must be in (0, 1]; got 0' });
  t.throws(() => img2imgSchedule(request({ denoise: 1.2 })), { message: /denoise must be in \(0, 1\]/ });
  t.throws(() => img2imgSchedule(request({ denoise: Number.NaN })), { message: /denoise must be in/ });
  t.throws(() => img2imgSchedule(request({ steps: 1000, denoise: 0.01 })), { message: /needs a 100000-step schedule; the limit is 10000/ });
  t.throws(() => img2imgSchedule(request({ sampler: 'plms2' })), { message: /^unknown sampler 'plms2' \(allowed: euler \(Euler\), euler_ancestral \(Euler a\)/ });
  t.throws(() => img2imgSchedule(request({ scheduler: 'cosine' })), { message: /unknown scheduler 'cosine'/ });
});
