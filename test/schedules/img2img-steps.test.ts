import t from 'tap';
import { img2imgSchedule, img2imgStepCounts, type Img2imgRequest } from '../../src/schedules/img2img-steps.js';
import { samplerNamed } from '../../src/samplers/catalog.js';
import { schedulerNamed } from '../../src/schedules/schedulers.js';
import { sigmaTableNamed } from '../../src/schedules/sigma-table.js';
import { FLOAT32_SCHEDULE_TOLERANCE, maxRelativeDifference, scheduleReference } from '../helpers/schedules.js';

const table = sigmaTableNamed('sd1');
const request = (overrides: Partial<Img2imgRequest>): Img2imgRequest => ({
  scheduler: 'normal', steps: 30, denoise: 0.4, fixSteps: true, sampler: 'euler', table, ...overrides,
});

t.test('step counts: the README example, fix steps on and off (A1111 modules/sd_samplers_common.py setup_img2img_steps)', async (t) => {
  t.same(img2imgStepCounts(30, 0.4, true), { scheduleSteps: 75, denoisingSteps: 30 });
  t.same(img2imgStepCounts(30, 0.4, false), { scheduleSteps: 30, denoisingSteps: 13 }, 'int(0.4·30) + 1 = 13, not the README\'s 12');
  t.same(img2imgStepCounts(20, 0.3, true), { scheduleSteps: 66, denoisingSteps: 20 }, 'int(20/0.3) = 66 truncates');
  t.same(img2imgStepCounts(30, 1, true), { scheduleSteps: 30, denoisingSteps: 30 }, 'denoise 1 is capped at 0.999: int(30/0.999) = 30');
  t.same(img2imgStepCounts(30, 1, false), { scheduleSteps: 30, denoisingSteps: 30 });
});

// What A1111 samples for these requests (setup_img2img_steps, get_sigmas, sample_img2img's slice) and what
// ComfyUI's KSampler.set_steps gives, both from test/reference/schedules_reference.py.
const IMG2IMG_CASES = [
  ...['normal', 'simple', 'karras', 'exponential', 'sgm_uniform', 'beta'].flatMap((scheduler) => [true, false].map((fix_steps) => ({ scheduler, steps: 30, denoise: 0.4, fix_steps }))),
  { scheduler: 'karras', steps: 20, denoise: 0.3, fix_steps: true },
  { scheduler: 'normal', steps: 30, denoise: 1, fix_steps: true },
  { scheduler: 'karras', steps: 10, denoise: 1, fix_steps: true, discard_penultimate: true },
  { scheduler: 'karras', steps: 12, denoise: 0.5, fix_steps: true, discard_penultimate: true },
];
const COMFY_CASES = [{ scheduler: 'normal' as const, steps: 10, denoise: 0.5 }, { scheduler: 'simple' as const, steps: 20, denoise: 0.35 }];
const { reference, skip } = scheduleReference({ img2img: IMG2IMG_CASES, comfy_denoise: COMFY_CASES });

t.test('the sampled sigmas are A1111\'s for the request: fix steps on and off, denoise 1, DPM2\'s dropped sigma', { skip }, async (t) => {
  IMG2IMG_CASES.forEach((c, i) => {
    const sampler = 'discard_penultimate' in c ? 'DPM2' : 'euler';
    const { sigmas } = img2imgSchedule(request({ scheduler: c.scheduler, steps: c.steps, denoise: c.denoise, fixSteps: c.fix_steps, sampler }));
    const theirs = reference!.img2img[i]!;
    const difference = maxRelativeDifference(sigmas, theirs);
    t.ok(difference <= FLOAT32_SCHEDULE_TOLERANCE, `${c.scheduler} ${c.steps} steps, denoise ${c.denoise}, fix ${c.fix_steps}${sampler === 'DPM2' ? ', DPM2' : ''}: ${sigmas.length} of ${theirs.length} sigmas, max relative difference ${difference.toExponential(1)}`);
  });
});

t.test('ComfyUI\'s KSampler.set_steps gives the same tail (denoise < 1: int(steps / denoise) steps, the last steps + 1 sigmas)', { skip }, async (t) => {
  COMFY_CASES.forEach((c, i) => {
    const { sigmas } = img2imgSchedule(request({ scheduler: c.scheduler, steps: c.steps, denoise: c.denoise, fixSteps: true }));
    const difference = maxRelativeDifference(sigmas, reference!.comfy_denoise[i]!);
    t.ok(difference <= FLOAT32_SCHEDULE_TOLERANCE, `${c.scheduler}, ${c.steps} steps, denoise ${c.denoise}: max relative difference ${difference.toExponential(1)}`);
  });
});

t.test('the sampled part is the tail of the full schedule', async (t) => {
  const schedule = img2imgSchedule(request({ scheduler: 'karras' }));
  t.equal(schedule.scheduleSteps, 75);
  t.equal(schedule.fullSigmas.length, 76);
  t.same(schedule.sigmas, schedule.fullSigmas.slice(45), 'A1111 slices from steps - t_enc - 1 = 75 - 29 - 1 = 45');
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
