import sharp from 'sharp';
import { request } from 'undici';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { FAMILIES } from '../../src/models/families.js';
import { cheapPreview, isPreviewStep } from '../../src/pipeline/preview.js';
import { fakePreview } from '../fakes/fake-a1111.js';
import { modelsFolder } from '../helpers/models.js';
import { parseSse, pngBase64, startService, submitJob, until } from '../helpers/service.js';

// Live previews: the cheap map against A1111's formula worked by hand, previews from the native pipeline
// over SSE (cheap at latent size, full at output size), A1111's own previews passed on, and the errors.

t.test('cheap preview: A1111\'s Approx cheap, worked by hand for two cells', async (t) => {
  // Two cells, four channels: cell 0 is (1, 0, 0, 0), cell 1 is (0.5, -1, 2, 0.25).
  const latent = { channels: 4, height: 1, width: 2, data: Float32Array.from([1, 0.5, 0, -1, 0, 2, 0, 0.25]) };
  const image = cheapPreview(latent, FAMILIES.sd1.previewFactors);
  // Cell 0: the first row of the SD factors, (0.298, 0.207, 0.208), then ·0.5 + 0.5, ·255, truncated.
  const cell0 = [0.298, 0.207, 0.208].map((v) => Math.trunc((v * 0.5 + 0.5) * 255));
  // Cell 1: 0.5·row0 − row1 + 2·row2 + 0.25·row3, clipped to [−1, 1] before the same mapping.
  const cell1 = [
    0.5 * 0.298 - 0.187 + 2 * -0.158 + 0.25 * -0.184,
    0.5 * 0.207 - 0.286 + 2 * 0.189 + 0.25 * -0.271,
    0.5 * 0.208 - 0.173 + 2 * 0.264 + 0.25 * -0.473,
  ].map((v) => Math.trunc(Math.min(Math.max(v * 0.5 + 0.5, 0), 1) * 255));
  t.same([...image.pixels], [...cell0, ...cell1]);
  t.same([image.width, image.height], [2, 1]);
  t.same([1, 2, 3, 4, 5, 6].filter((step) => isPreviewStep(step, 6, 2)), [2, 4], 'every 2 steps, not the last');
});

t.test('the onnx backend sends previews over SSE, cheap at latent size and full at output size', async (t) => {
  const root = await modelsFolder(t, { tiny: {} });
  const app = await buildApp(loadConfig({ MODELS_DIR: root, LOG_LEVEL: 'silent', PROGRESS_INTERVAL_MS: '50' }), { logger: false });
  await app.ready();
  t.teardown(() => app.close());
  for (const [mode, size] of [['cheap', [10, 6]], ['full', [80, 48]]] as const) {
    const job = await submitJob<{ id: string }>(app, { image: pngBase64(40, 24), scale: 2, steps: 6, seed: 4, preview: mode, preview_every: 2 });
    const events = parseSse((await app.inject({ url: `/jobs/${job.id}/events` })).body);
    const previews = events.filter((e) => e.type === 'preview').map((e) => e.data as { step: number; steps: number; mime: string; image: string });
    t.same(previews.map((p) => `${p.step}/${p.steps}`), ['2/6', '4/6'], `${mode}: a preview every 2 steps, none at the last`);
    for (const preview of previews) {
      t.equal(preview.mime, 'image/jpeg');
      const meta = await sharp(Buffer.from(preview.image, 'base64')).metadata();
      t.same([meta.format, meta.width, meta.height], ['jpeg', ...size], `${mode}: a ${size.join('×')} JPEG`);
    }
    t.ok(events.findIndex((e) => e.type === 'preview') < events.findIndex((e) => e.type === 'done'), 'previews come before done');
    const after = await app.inject({ url: `/jobs/${job.id}/preview` });
    t.match(after.json(), { statusCode: 404, code: 'PREVIEW_NOT_READY', message: /has succeeded; previews go when a job ends/ });
  }
  const off = await submitJob<{ id: string }>(app, { image: pngBase64(40, 24), steps: 2 });
  const events = parseSse((await app.inject({ url: `/jobs/${off.id}/events` })).body);
  t.equal(events.filter((e) => e.type === 'preview').length, 0, 'off by default: no previews');
});

t.test('a1111: previews are turned on for the job and A1111\'s current_image is passed on', async (t) => {
  const service = await startService({ companion: true, schedulers: true, stepDelayMs: 5 });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  fake.holdAfterStep = 4;
  const job = await submitJob<{ id: string }>(service.app, { steps: 8, preview: 'cheap', preview_every: 2 });
  const preview = async () => service.app.inject({ url: `/jobs/${job.id}/preview` });
  await until(async () => (await preview()).headers['x-step'] === '4', 10_000);
  const held = await preview();
  t.equal(held.headers['content-type'], 'image/png', 'A1111\'s own format, as it sent it');
  t.ok(held.rawPayload.equals(Buffer.from(fakePreview(4))), 'the very image A1111 showed at step 4');
  t.match(fake.received[fake.received.length - 1]!['override_settings'], { show_progress_every_n_steps: 2, show_progress_type: 'Approx cheap' }, 'live previews are on at the instance already; every 2 steps, cheap');
  fake.behaviour.hang = false;
  await until(async () => ((await service.app.inject({ url: `/jobs/${job.id}` })).json() as { state: string }).state === 'succeeded', 10_000);
  const quiet = await submitJob<{ id: string }>(service.app, { steps: 2 });
  await until(async () => ((await service.app.inject({ url: `/jobs/${quiet.id}` })).json() as { state: string }).state === 'succeeded', 10_000);
  t.notOk('show_progress_type' in (fake.received[fake.received.length - 1]!['override_settings'] as object), 'no preview settings when previews are off');
  t.match((await service.app.inject({ url: `/jobs/${quiet.id}/preview` })).json(), { code: 'PREVIEW_NOT_READY' });
});

t.test('preview fields are checked like any other', async (t) => {
  const service = await startService({ companion: true, schedulers: true });
  t.teardown(() => service.close());
  const bad = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), preview: 'sometimes' } });
  t.match(bad.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /preview/ });
  const every = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), preview: 'cheap', preview_every: 0 } });
  t.match(every.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /preview_every/ });
});

t.test('a1111: while another client\'s job runs on the instance, its images are not passed on as ours', async (t) => {
  const service = await startService({ companion: true, schedulers: true, stepDelayMs: 5 });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  await until(async () => (await service.app.inject({ url: '/readyz' })).statusCode === 200);
  // Someone else's job, held at its step 2 with a live preview showing.
  fake.holdAfterStep = 2;
  const other = request(`${fake.url}/sdapi/v1/img2img`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ init_images: [pngBase64()], steps: 6, override_settings: { show_progress_every_n_steps: 1, img2img_fix_steps: true } }),
  }).then((response) => response.body.arrayBuffer());
  await until(() => fake.behaviour.hang);
  const job = await submitJob<{ id: string }>(service.app, { steps: 4, preview: 'cheap', preview_every: 1 });
  await until(() => fake.received.length === 2, 10_000);
  // Our request waits behind theirs while /progress shows their image: a few polls (every 50 ms) later, none is ours.
  const polls = fake.progressReads;
  await until(() => fake.progressReads >= polls + 4, 10_000);
  t.match((await service.app.inject({ url: `/jobs/${job.id}/preview` })).json(), { code: 'PREVIEW_NOT_READY' }, 'their preview is not shown as ours');
  fake.holdAfterStep = undefined;
  fake.behaviour.hang = false;
  await other;
  await until(async () => ((await service.app.inject({ url: `/jobs/${job.id}` })).json() as { state: string }).state === 'succeeded', 10_000);
  const done = (await service.app.inject({ url: `/jobs/${job.id}` })).json() as { parameters: Record<string, unknown> };
  t.notOk('steps_run' in done.parameters, 'nor their step count as the steps we ran');
});

// The probe of what the instance runs goes out beside the job, not before it: held, it holds nothing back.
t.test('a1111: a /progress slow to answer does not hold the job back; answered once the job runs, the job is not taken as ours', async (t) => {
  const service = await startService({ companion: true, schedulers: true, stepDelayMs: 5 });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  await until(async () => (await service.app.inject({ url: '/readyz' })).statusCode === 200);
  fake.holdProgress = true;
  fake.holdAfterStep = 2;
  const job = await submitJob<{ id: string }>(service.app, { steps: 4, preview: 'cheap', preview_every: 1 });
  await until(() => fake.behaviour.hang, 10_000);
  t.equal(fake.received.length, 1, 'the job reached step 2 with no /progress answered');
  // Now the probe sees a job running, which may not be ours: a few polls later, nothing was passed on as ours.
  fake.holdProgress = false;
  const polls = fake.progressReads;
  await until(() => fake.progressReads >= polls + 4, 10_000);
  t.match((await service.app.inject({ url: `/jobs/${job.id}/preview` })).json(), { code: 'PREVIEW_NOT_READY' }, 'no preview taken as ours');
  fake.holdAfterStep = undefined;
  fake.behaviour.hang = false;
  await until(async () => ((await service.app.inject({ url: `/jobs/${job.id}` })).json() as { state: string }).state === 'succeeded', 10_000);
  const done = (await service.app.inject({ url: `/jobs/${job.id}` })).json() as { parameters: Record<string, unknown> };
  t.notOk('steps_run' in done.parameters, 'no step count taken as the steps we ran');
});
