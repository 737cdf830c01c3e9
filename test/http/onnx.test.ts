import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { getPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import { modelsFolder } from '../helpers/models.js';
import { multipartBody, pngBase64, testPng, until } from '../helpers/service.js';

const root = await modelsFolder(t, { alpha: {}, beta: { precision: 'fp16', vaeEncoderOutput: 'latent_parameters' } });
const app = await buildApp(loadConfig({ MODELS_DIR: root, LOG_LEVEL: 'silent', PROGRESS_INTERVAL_MS: '50' }), { logger: false });
await app.ready();
t.teardown(() => app.close());

t.test('MODELS_DIR alone enables the onnx backend; GET /models lists what loaded', async (t) => {
  const models = (await app.inject({ url: '/models' })).json() as { models: { name: string; precision: string; provider: string }[]; errors: unknown[] };
  t.same(models.models.map((m) => [m.name, m.precision, m.provider]), [['alpha', 'float32', 'cpu'], ['beta', 'float16', 'cpu']]);
  t.same(models.errors, []);
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same((await app.inject({ url: '/samplers' })).json().backends.onnx, ['euler', 'euler_ancestral', 'heun', 'lms', 'dpmpp_2m', 'dpmpp_2m_sde', 'ddim']);
});

t.test('POST /upscale runs natively: PNG of the target size with infotext, same seed same bytes', async (t) => {
  const payload = { image: pngBase64(40, 24), scale: 2, method: 'bislerp', scheduler: 'karras', steps: 3, seed: 9, prompt: 'a cat', model: 'beta', sampler: 'DPM++ 2M' };
  const first = await app.inject({ method: 'POST', url: '/upscale', payload });
  t.equal(first.statusCode, 200, first.body);
  t.same(sniffImage(first.rawPayload), { format: 'png', width: 80, height: 48 });
  t.match(getPngText(first.rawPayload, 'parameters'), /^a cat\nSteps: 3, Sampler: DPM\+\+ 2M, Schedule type: Karras, .*Seed: 9, Size: 80x48, Model: beta, Denoising strength: 0\.5, Latent upscale method: bislerp, Fix steps: True, Latent upscale service: onnx$/);
  const again = await app.inject({ method: 'POST', url: '/upscale', payload });
  t.same(again.rawPayload, first.rawPayload);
  const unnamed = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 1 }, headers: { accept: 'application/json' } });
  const parameters = unnamed.json().parameters as Record<string, unknown>;
  t.equal(parameters['model'], 'alpha', 'the model that ran, also when the request named none');
  t.match(parameters['infotext'], /, Size: 128x96, Model: alpha, Denoising strength: 0\.5, /);
});

t.test('jobs on the onnx backend report each step over SSE and can be cancelled between steps', async (t) => {
  const job = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 6, seed: 1 } })).json() as { id: string };
  const events = (await app.inject({ url: `/jobs/${job.id}/events` })).body;
  const steps = [...events.matchAll(/event: progress\ndata: (.*)\n/g)].map((m) => (JSON.parse(m[1]!) as { step: number; steps: number }));
  t.same(steps.map((s) => `${s.step}/${s.steps}`), ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']);
  t.match(events, /event: done/);

  const long = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(256, 256), steps: 400, denoise: 1, seed: 2 } })).json() as { id: string };
  await until(async () => ((await app.inject({ url: `/jobs/${long.id}` })).json() as { step: number }).step >= 2);
  await app.inject({ method: 'DELETE', url: `/jobs/${long.id}` });
  await until(async () => ((await app.inject({ url: `/jobs/${long.id}` })).json() as { state: string }).state === 'cancelled');
  const view = (await app.inject({ url: `/jobs/${long.id}` })).json() as { step: number };
  t.ok(view.step < 400, `stopped at step ${view.step} of 400`);
});

t.test('onnx-specific refusals name what is allowed', async (t) => {
  const unknownModel = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), model: 'sdxl' } });
  t.equal(unknownModel.statusCode, 422);
  t.match(unknownModel.json().message, /unknown model 'sdxl' \(allowed: alpha, beta\)/);
  const sampler = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), sampler: 'DPM2' } });
  t.equal(sampler.statusCode, 422);
  t.match(sampler.json().message, /sampler 'dpm_2' is not available on the onnx backend \(allowed: euler, euler_ancestral, heun, lms, dpmpp_2m, dpmpp_2m_sde, ddim\)/);
  const backend = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), backend: 'a1111' } });
  t.equal(backend.statusCode, 422);
  t.match(backend.json().message, /unknown backend 'a1111' \(allowed: onnx\)/);
});

t.test('a MODELS_DIR with a broken model still serves the good ones and reports the bad', async (t) => {
  const mixed = await modelsFolder(t, { good: {} });
  const { writeFile, mkdir } = await import('node:fs/promises');
  await mkdir(`${mixed}/broken`, { recursive: true });
  await writeFile(`${mixed}/broken/model_index.json`, '{}');
  const other = await buildApp(loadConfig({ MODELS_DIR: mixed, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
  await other.ready();
  t.teardown(() => other.close());
  const models = (await other.inject({ url: '/models' })).json() as { models: { name: string }[]; errors: { name: string; error: string }[] };
  t.same(models.models.map((m) => m.name), ['good']);
  t.match(models.errors, [{ name: 'broken', error: /broken\/tokenizer\/vocab\.json: missing \(the CLIP tokenizer\)/ }]);
});

t.test('model families: /models shows family, prediction and VAE scale; clip skip is checked against the model', async (t) => {
  const folder = await modelsFolder(t, { sd1: { maxClipSkip: 2 }, sd2: { family: 'sd2', prediction: 'v' }, sdxl: { family: 'sdxl' } });
  const other = await buildApp(loadConfig({ MODELS_DIR: folder, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
  await other.ready();
  t.teardown(() => other.close());
  const models = (await other.inject({ url: '/models' })).json() as { models: Record<string, unknown>[] };
  t.same(models.models.map((m) => [m['name'], m['family'], m['family_label'], m['prediction'], m['vae_scale'], m['sigma_table'], m['max_clip_skip']]), [
    ['sd1', 'sd1', 'SD 1.x', 'eps', 0.18215, 'sd1', 2],
    ['sd2', 'sd2', 'SD 2.x', 'v', 0.18215, 'sd1', 1],
    ['sdxl', 'sdxl', 'SDXL', 'eps', 0.13025, 'sdxl', 1],
  ]);

  for (const [model, label] of [['sd2', 'SD 2\\.x'], ['sdxl', 'SDXL']] as const) {
    const refused = await other.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), model, clip_skip: 2 } });
    t.equal(refused.statusCode, 422, model);
    t.match(refused.json().message, new RegExp(`clip_skip 2: model '${model}' is ${label}, which takes no clip skip \\(A1111 applies CLIP_stop_at_last_layers to SD 1\\.x only; allowed: 1\\)`));
  }
  const tooFar = await other.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), model: 'sd1', clip_skip: 3 } });
  t.equal(tooFar.statusCode, 422);
  t.match(tooFar.json().message, /clip_skip 3: model 'sd1' offers clip skip 1 to 2 \(its text encoder has outputs up to clip_skip_2; allowed: 1–2\)/);
  t.equal((await other.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), clip_skip: 0 } })).statusCode, 400);

  const { payload, headers } = multipartBody(testPng(32, 32), { model: 'sd1', clip_skip: '2', steps: '2', seed: '3', prompt: 'a cat' });
  const skipped = await other.inject({ method: 'POST', url: '/upscale', payload, headers });
  t.equal(skipped.statusCode, 200, skipped.body);
  t.match(getPngText(skipped.rawPayload, 'parameters'), /^a cat\nSteps: 2, .*Size: 64x64, Model: sd1, Denoising strength: 0\.5, Clip skip: 2, Latent upscale method/);
  const unskipped = await other.inject({ method: 'POST', url: '/upscale', ...multipartBody(testPng(32, 32), { model: 'sd1', steps: '2', seed: '3', prompt: 'a cat' }) });
  t.notSame(unskipped.rawPayload, skipped.rawPayload, 'clip skip 2 conditions on another layer');
  t.notMatch(getPngText(unskipped.rawPayload, 'parameters'), /Clip skip/, 'clip skip 1 is not written, as A1111 does not');

  for (const model of ['sd2', 'sdxl']) {
    const ran = await other.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(40, 24), model, steps: 2, negative_prompt: model === 'sd2' ? 'blurry' : '' } });
    t.equal(ran.statusCode, 200, ran.body);
    t.same(sniffImage(ran.rawPayload), { format: 'png', width: 80, height: 48 }, model);
  }
});
