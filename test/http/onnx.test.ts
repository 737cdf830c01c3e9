import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { getPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import { modelsFolder } from '../helpers/models.js';
import { pngBase64, until } from '../helpers/service.js';

const root = await modelsFolder({ alpha: {}, beta: { precision: 'fp16', vaeEncoderOutput: 'latent_parameters' } });
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
  t.match(getPngText(first.rawPayload, 'parameters'), /^a cat\nSteps: 3, Sampler: DPM\+\+ 2M, Schedule type: Karras, .*Seed: 9, Size: 80x48, .*Latent upscale method: bislerp, Fix steps: True, Latent upscale service: onnx$/);
  const again = await app.inject({ method: 'POST', url: '/upscale', payload });
  t.same(again.rawPayload, first.rawPayload);
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
  const mixed = await modelsFolder({ good: {} });
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
