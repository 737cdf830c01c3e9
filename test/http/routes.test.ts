import t from 'tap';
import { decodeLatent, encodeLatent } from '../../src/formats/latent-file.js';
import { encodeNpy, decodeNpy } from '../../src/formats/npy.js';
import { latent } from '../../src/latent/tensor.js';
import { FLOAT32_TABLE_TOLERANCE, karrasByFormula, maxRelativeDifference, sd1SigmaRange } from '../helpers/schedules.js';
import { startService } from '../helpers/service.js';

const companion = await startService({ companion: true });
const native = await startService({ companion: false });
t.teardown(async () => {
  await companion.close();
  await native.close();
});

t.test('GET /methods, /schedulers, /samplers: the registries and what each backend supports now', async (t) => {
  const methods = (await companion.app.inject({ url: '/methods' })).json() as { items: { name: string }[]; backends: Record<string, string[]> };
  t.equal(methods.items.length, 10);
  t.equal(methods.backends['a1111']!.length, 10, 'companion: every method');
  const nativeMethods = (await native.app.inject({ url: '/methods' })).json() as { backends: Record<string, string[]> };
  t.same(nativeMethods.backends['a1111'], ['bilinear', 'linear', 'trilinear'], 'stock A1111: bilinear only');
  const nativeSchedulers = (await native.app.inject({ url: '/schedulers' })).json() as { backends: Record<string, string[]> };
  // beta and kl_optimal are left out: stock A1111 computes them differently (they run on companion instances).
  t.same(nativeSchedulers.backends['a1111'], ['simple', 'normal', 'karras', 'exponential', 'polyexponential', 'automatic', 'uniform', 'sgm_uniform', 'ddim_uniform', 'align_your_steps'],
    'A1111 v1.10 has all of ours but linear_quadratic; beta and kl_optimal differ there');
  const samplers = (await companion.app.inject({ url: '/samplers' })).json() as { items: { name: string; description: string; a1111_label: string; automatic_scheduler: string }[] };
  const dpmpp2m = samplers.items.find((s) => s.name === 'dpmpp_2m')!;
  t.same(Object.keys(dpmpp2m).sort(), ['a1111_label', 'automatic_scheduler', 'description', 'name']);
  // A1111 modules/sd_samplers_kdiffusion.py: 'DPM++ 2M' runs sample_dpmpp_2m, scheduler 'karras' by default.
  t.match(dpmpp2m, { a1111_label: 'DPM++ 2M', automatic_scheduler: 'karras' });
  t.ok(typeof dpmpp2m.description === 'string' && dpmpp2m.description.length > 0, 'with a description');
  t.equal(samplers.items.find((s) => s.a1111_label === 'Euler a')!.name, 'euler_ancestral');
});

t.test('GET /sigmas: JSON matching the reference, SVG on request, 400 on bad input', async (t) => {
  const body = (await companion.app.inject({ url: '/sigmas?scheduler=karras&steps=10&denoise=1' })).json() as { sigmas: number[]; steps_run: number };
  const { min, max } = sd1SigmaRange();
  const difference = maxRelativeDifference(body.sigmas, karrasByFormula(10, min, max));
  t.ok(difference < FLOAT32_TABLE_TOLERANCE, `karras from its formula: max relative difference ${difference.toExponential(1)}`);
  const fixed = (await companion.app.inject({ url: '/sigmas?scheduler=normal&steps=30&denoise=0.4' })).json() as { sigmas: number[]; schedule_steps: number };
  t.same([fixed.sigmas.length, fixed.schedule_steps], [31, 75]);
  const unfixed = (await companion.app.inject({ url: '/sigmas?scheduler=normal&steps=30&denoise=0.4&fix_steps=false' })).json() as { sigmas: number[] };
  t.equal(unfixed.sigmas.length, 14);

  const svg = await companion.app.inject({ url: '/sigmas?scheduler=normal&steps=30&denoise=0.4', headers: { accept: 'image/svg+xml' } });
  t.equal(svg.headers['content-type'], 'image/svg+xml');
  t.match(svg.body, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const points = (id: string): number => (new RegExp(`id="${id}" points="([^"]*)"`).exec(svg.body)![1]!.split(' ').length);
  t.same([points('full'), points('sampled')], [76, 31], 'full schedule of 75 steps, 30 sampled');
  t.equal((svg.body.match(/<circle class="step"/g) ?? []).length, 31, 'a dot at each sampled σ');
  const json = (await companion.app.inject({ url: '/sigmas?scheduler=normal&steps=30&denoise=0.4' })).json() as { sigmas: number[] };
  const log = await companion.app.inject({ url: '/sigmas?scheduler=normal&steps=30&denoise=0.4&scale=log', headers: { accept: 'image/svg+xml' } });
  const heights = /id="sampled" points="([^"]*)"/.exec(log.body)![1]!.split(' ').map((p) => Number(p.split(',')[1]));
  // On a log axis, height is linear in ln σ: the slope between any two positive sigmas is the same.
  const slope = (i: number, j: number): number => (heights[i]! - heights[j]!) / (Math.log(json.sigmas[i]!) - Math.log(json.sigmas[j]!));
  for (const [i, j] of [[1, 9], [5, 17], [12, 29]] as const) t.ok(Math.abs(slope(i, j) / slope(0, 29) - 1) < 0.02, `log axis: slope ${i}-${j} = ${slope(i, j).toFixed(2)} vs ${slope(0, 29).toFixed(2)}`);
  t.match(log.body, /σ \(log\)/);
  t.match(svg.body, /font-size="11"/);

  const bad = await companion.app.inject({ url: '/sigmas?steps=0' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /querystring\.steps/);
  const unknown = await companion.app.inject({ url: '/sigmas?scheduler=cosine' });
  t.equal(unknown.statusCode, 422);
  t.match(unknown.json().message, /unknown scheduler 'cosine' \(allowed: /);
});

t.test('POST /latents/resize: .npy in, .npy out; ComfyUI .latent in, .latent out', async (t) => {
  const input = latent([1, 4, 2, 3], Float32Array.from({ length: 24 }, (_, i) => i));
  const npy = await companion.app.inject({
    method: 'POST', url: '/latents/resize?method=nearest-exact&scale=2',
    payload: Buffer.from(encodeNpy(input)), headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(npy.statusCode, 200, npy.body);
  t.equal(npy.headers['x-latent-shape'], '1,4,4,6');
  const out = decodeNpy(npy.rawPayload).latent;
  t.equal(out.data[(1 * 4 + 3) * 6 + 5], input.data[(1 * 2 + 1) * 3 + 2], 'each cell repeated 2x2');

  const comfy = await companion.app.inject({
    method: 'POST', url: '/latents/resize?method=bislerp&width=5&height=3',
    payload: Buffer.from(encodeLatent({ latent: input, element: 'float16' }, 'latent')), headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(comfy.statusCode, 200, comfy.body);
  t.match(comfy.headers['content-disposition'], /resized\.latent/);
  const back = decodeLatent(comfy.rawPayload, 'latent');
  t.same(back.latent.shape, [1, 4, 3, 5]);
  t.equal(back.element, 'float16');

  const bad = await companion.app.inject({
    method: 'POST', url: '/latents/resize?method=lanczos&scale=2',
    payload: Buffer.from(encodeNpy(input)), headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(bad.statusCode, 422);
  t.match(bad.json().message, /unknown method 'lanczos' \(allowed: /);
  const notLatent = await companion.app.inject({
    method: 'POST', url: '/latents/resize?scale=2', payload: Buffer.from('hello'), headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(notLatent.statusCode, 422);
  t.match(notLatent.json(), { code: 'LATENT_UNREADABLE', message: /not a .npy, safetensors or ComfyUI .latent file \(it starts with 68656c6c6f\)/ });
  const zero = await companion.app.inject({
    method: 'POST', url: '/latents/resize?width=0&height=4', payload: Buffer.from(encodeNpy(input)), headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(zero.statusCode, 422);
  t.match(zero.json().message, /target width must be an integer from 1 to 8192/);
});

t.test('health and readiness', async (t) => {
  t.same((await companion.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
  const ready = await companion.app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json().backends.a1111.units[0], { target: companion.fakes[0]!.url, healthy: true, busy: false, mode: 'companion' });
});

t.test('OpenAPI at /docs/json documents every route', async (t) => {
  const spec = (await companion.app.inject({ url: '/docs/json' })).json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.match(spec.openapi, /^3\./);
  const documented = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  t.same(documented, [
    'DELETE /jobs/{id}', 'GET /', 'GET /healthz', 'GET /jobs/{id}', 'GET /jobs/{id}/events', 'GET /jobs/{id}/preview', 'GET /jobs/{id}/result', 'GET /methods', 'GET /metrics', 'GET /models', 'GET /readyz',
    'GET /samplers', 'GET /schedulers', 'GET /sigmas', 'POST /jobs', 'POST /latents/resize', 'POST /upscale',
  ]);
  t.equal((await companion.app.inject({ url: '/docs' })).statusCode < 400, true, 'the UI is served');
});
