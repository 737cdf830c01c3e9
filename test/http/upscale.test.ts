import t from 'tap';
import { getPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import { multipartBody, pngBase64, startService, testPng, until } from '../helpers/service.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { DEFAULT_SETTINGS, FakeA1111 } from '../fakes/fake-a1111.js';

t.test('companion mode: the exact img2img payload, and a PNG of the target size with infotext', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  const response = await service.app.inject({
    method: 'POST', url: '/upscale',
    payload: { image: `data:image/png;base64,${pngBase64(64, 48)}`, scale: 2, method: 'bislerp', scheduler: 'karras', steps: 12, denoise: 0.45, seed: 42, prompt: 'a cat, detailed', negative_prompt: 'blurry', sampler: 'DPM++ 2M', cfg_scale: 6.5, clip_skip: 2 },
  });
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.headers['content-type'], 'image/png');
  t.equal(response.headers['x-seed'], '42');
  const png = response.rawPayload;
  t.same(sniffImage(png), { format: 'png', width: 128, height: 96 });
  const [payload] = service.fakes[0]!.received;
  t.same(payload, {
    init_images: [pngBase64(64, 48)],
    resize_mode: 3,
    width: 128,
    height: 96,
    denoising_strength: 0.45,
    steps: 12,
    cfg_scale: 6.5,
    seed: 42,
    sampler_name: 'DPM++ 2M',
    prompt: 'a cat, detailed',
    negative_prompt: 'blurry',
    batch_size: 1,
    n_iter: 1,
    send_images: true,
    save_images: false,
    // samples_format png is the instance's own already, so it is not overridden.
    override_settings: { img2img_fix_steps: true, CLIP_stop_at_last_layers: 2 },
    override_settings_restore_afterwards: true,
    alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'bislerp', 'karras'] } },
  });
  t.equal(getPngText(png, 'parameters'),
    'a cat, detailed\nNegative prompt: blurry\nSteps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 42, Size: 128x96, '
    + 'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, Latent upscale method: bislerp, Fix steps: True, Latent upscale service: a1111');
});

t.test('native mode: scheduler field and fix-steps override, no scripts; other methods get a 422 naming the companion', async (t) => {
  const service = await startService({ companion: false });
  t.teardown(() => service.close());
  const ok = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'bilinear', scheduler: 'Simple', fix_steps: false, seed: 7 } });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(service.fakes[0]!.received[0], {
    init_images: [pngBase64()],
    resize_mode: 3,
    width: 128,
    height: 96,
    denoising_strength: 0.5,
    steps: 30,
    cfg_scale: 7,
    seed: 7,
    sampler_name: 'Euler',
    prompt: '',
    negative_prompt: '',
    batch_size: 1,
    n_iter: 1,
    send_images: true,
    save_images: false,
    // png is the instance's own format: not overridden; fix steps and clip skip shape the image, so they
    // are sent whatever the instance's last known values.
    override_settings: { img2img_fix_steps: false, CLIP_stop_at_last_layers: 1 },
    override_settings_restore_afterwards: true,
    scheduler: 'Simple',
  }, 'defaults: 2x, 30 steps, denoise 0.5, cfg 7, Euler; fix steps and clip skip always sent, cosmetic settings only where they differ; A1111\'s scheduler label; no scripts');

  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'nearest-exact' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json().message, /method 'nearest-exact' needs the companion extension: stock A1111 only upscales latents bilinearly \(allowed without it: bilinear, linear, trilinear\); install the companion extension \(a1111-extension\//);
  t.equal(service.fakes[0]!.received.length, 1, 'nothing was sent to A1111');
});

t.test('A1111 older than 1.9.1 (no /schedulers): automatic only, no scheduler field', async (t) => {
  const service = await startService({ companion: false, schedulers: false });
  t.teardown(() => service.close());
  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'bilinear', scheduler: 'karras' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json().message, /scheduler 'karras' needs A1111 1\.9\.1 or newer, or the companion extension \(this A1111 has no \/sdapi\/v1\/schedulers, which came in 1\.9\.1; allowed: automatic\)/);
  const ok = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'bilinear', scheduler: 'automatic' } });
  t.equal(ok.statusCode, 200, ok.body);
  t.notOk('scheduler' in service.fakes[0]!.received[0]!);
});

t.test('multipart upload, JSON response on request, sizes rounded to multiples of 8 and said so', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  const { payload, headers } = multipartBody(testPng(40, 40), { width: '1001', height: '999', fix_steps: 'false', seed: '5', method: 'area', clip_skip: '3' });
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload, headers: { ...headers, accept: 'application/json' } });
  t.equal(response.statusCode, 200, response.body);
  const body = response.json() as { images: string[]; parameters: Record<string, unknown> };
  t.same(sniffImage(Buffer.from(body.images[0]!, 'base64')), { format: 'png', width: 1000, height: 1000 });
  t.same([body.parameters['width'], body.parameters['height'], body.parameters['fix_steps'], body.parameters['seed'], body.parameters['clip_skip']], [1000, 1000, false, 5, 3]);
  t.same(service.fakes[0]!.received[0]!['override_settings'], { img2img_fix_steps: false, CLIP_stop_at_last_layers: 3 });
  t.same(body.parameters['notes'], ['size 1001×999 rounded to 1000×1000 (multiples of 8)']);
  t.equal(service.fakes[0]!.received[0]!['init_images'] instanceof Array && (service.fakes[0]!.received[0]!['init_images'] as string[])[0], Buffer.from(testPng(40, 40)).toString('base64'));
});

t.test('seed -1 draws a seed and returns it', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), seed: -1 }, headers: { accept: 'application/json' } });
  const seed = response.json().parameters.seed as number;
  t.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32);
  t.equal(service.fakes[0]!.received[0]!['seed'], seed, 'the drawn seed is what A1111 got');
});

t.test('DDIM on A1111 takes no schedule: a chosen one is a 422 naming the samplers that take one; automatic (or ddim_uniform, the same) runs', async (t) => {
  const service = await startService({ companion: true, schedulers: true });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), sampler: 'DDIM', scheduler: 'karras' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json(), { code: 'UNSUPPORTED_BY_BACKEND', message: /^scheduler 'karras' does not apply to DDIM on A1111, which runs it on its own timesteps \(use scheduler automatic, or a sampler that takes a schedule: euler, euler_ancestral, .*dpmpp_2m,/ });
  t.notMatch(refused.json().message, /, ddim[,)]/, 'DDIM is not offered as one that takes a schedule');
  t.equal(fake.received.length, 0, 'nothing was sent');
  for (const scheduler of ['automatic', 'ddim_uniform']) {
    const ok = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), sampler: 'DDIM', scheduler, steps: 3 } });
    t.equal(ok.statusCode, 200, ok.body);
    t.same((fake.received[fake.received.length - 1]!['alwayson_scripts'] as Record<string, { args: unknown[] }>)['Latent Upscale Companion']!.args[2], 'automatic', `${scheduler}: the companion is told automatic, and writes no schedule`);
  }
});

t.test('one scheduler name, one schedule: beta and kl_optimal, which stock A1111 computes otherwise, run on companion instances only', async (t) => {
  const fleet = await startService([{ companion: false, schedulers: true }, { companion: true, schedulers: true }]);
  t.teardown(() => fleet.close());
  const [stock, companion] = fleet.fakes as [FakeA1111, FakeA1111];
  for (const scheduler of ['beta', 'kl_optimal']) {
    const ok = await fleet.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), scheduler, steps: 3 }, headers: { accept: 'application/json' } });
    t.equal(ok.statusCode, 200, ok.body);
    t.equal(ok.json().parameters.ran_on, companion.url, `${scheduler} ran on the companion instance`);
  }
  t.equal(stock.received.length, 0, 'the stock instance got none of them');
  const alone = await startService({ companion: false, schedulers: true });
  t.teardown(() => alone.close());
  const refused = await alone.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'bilinear', scheduler: 'kl_optimal' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json().message, /^scheduler 'kl_optimal' runs only where the companion computes it: stock A1111 v1\.10\.1 ends its kl_optimal at σmin with no final 0 .*; install the companion extension/);
});

t.test('overrides: cosmetic ones only where they differ; keys its settings lack are named in the log and /readyz, as A1111 would leave them changed', async (t) => {
  const apiOnly = Object.fromEntries(Object.entries(DEFAULT_SETTINGS).filter(([key]) => key !== 'img2img_fix_steps'));
  const lines: string[] = [];
  const fake = await new FakeA1111({ companion: true, schedulers: true, settings: apiOnly }).start();
  t.teardown(() => fake.stop());
  const app = await buildApp(loadConfig({ A1111_URLS: fake.url, HEALTH_CHECK_INTERVAL_SECONDS: '0.2', LOG_LEVEL: 'info' }), { logStream: { write: (line) => void lines.push(line) } });
  await app.ready();
  t.teardown(() => app.close());
  const service = { app };
  const ok = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 3, clip_skip: 2 } });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(fake.received[0]!['override_settings'], { img2img_fix_steps: true, CLIP_stop_at_last_layers: 2 }, 'only what differs');
  t.equal(fake.settings['CLIP_stop_at_last_layers'], 1, 'a key the instance has is restored');
  t.equal(fake.settings['img2img_fix_steps'], true, 'the absent one stays changed, as A1111 leaves it');
  const ready = (await service.app.inject({ url: '/readyz' })).json() as { backends: Record<string, { units: { warning?: string }[] }> };
  t.match(ready.backends['a1111']!.units[0]!.warning, /^its settings have no img2img_fix_steps \(an API-only install\?\): A1111 applies such an override but never restores it/);
  const reads = fake.settingsReads;
  await until(() => fake.settingsReads >= reads + 3, 10_000); // three more probes, each of which would log again
  t.equal(lines.filter((line) => line.includes('its settings have no img2img_fix_steps')).length, 1, 'logged once, not at every probe');
});

t.test('the steps A1111 actually ran are reported as steps_run (its /progress sampling_steps)', async (t) => {
  const service = await startService({ companion: true, schedulers: true, stepDelayMs: 40 });
  t.teardown(() => service.close());
  // Without fix steps A1111 runs int(0.5 · 30) + 1 = 16 of the 30; with it, all 30.
  for (const [fixSteps, ran] of [[false, 16], [true, 30]] as const) {
    const ok = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 30, fix_steps: fixSteps }, headers: { accept: 'application/json' } });
    t.equal(ok.statusCode, 200, ok.body);
    t.equal(ok.json().parameters.steps_run, ran, `fix steps ${fixSteps}: ${ran} steps ran`);
  }
});

/** A Server-Timing header's entries in order: name, ms and description. */
function serverTiming(header: unknown): { name: string; ms: number; desc: string }[] {
  return String(header).split(', ').map((entry) => {
    const [, name, ms, desc] = /^(\w+);dur=(\d+(?:\.\d+)?);desc="([^"]*)"$/.exec(entry) ?? [];
    return { name: name ?? `unreadable: ${entry}`, ms: Number(ms), desc: desc ?? '' };
  });
}

t.test('Server-Timing: the body, check and job stages, which add up to no more than the request took; an error says how far it got', async (t) => {
  const steps = 5;
  const stepDelayMs = 40;
  const service = await startService({ companion: true, stepDelayMs });
  t.teardown(() => service.close());
  const started = performance.now();
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps } });
  const tookMs = performance.now() - started;
  t.equal(response.statusCode, 200, response.body);
  const stages = serverTiming(response.headers['server-timing']);
  t.same(stages.map((stage) => stage.name), ['body', 'check', 'job']);
  t.ok(stages.every((stage) => stage.ms >= 0 && stage.desc.length > 0), JSON.stringify(stages));
  // The fake sleeps stepDelayMs at each step (timers may fire up to 1 ms early); each stage is rounded to 0.1 ms.
  t.ok(stages[2]!.ms >= steps * (stepDelayMs - 1), `job stage ${stages[2]!.ms} ms for ${steps} steps of ${stepDelayMs} ms`);
  t.ok(stages.reduce((sum, stage) => sum + stage.ms, 0) <= tookMs + 0.15, `stages ${JSON.stringify(stages)} within the ${tookMs} ms the request took`);

  // A job that fails says where its time went too.
  service.fakes[0]!.behaviour.failAlways = { status: 500, body: { error: 'OutOfMemoryError' } };
  const failed = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(failed.statusCode, 502, failed.body);
  t.same(serverTiming(failed.headers['server-timing']).map((stage) => stage.name), ['body', 'check', 'job']);

  // An image refused before any job exists: the stages up to the check.
  const corrupt = Buffer.from(testPng());
  corrupt[corrupt.length - 20]! ^= 0xff;
  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: corrupt.toString('base64') } });
  t.equal(refused.statusCode, 422, refused.body);
  t.same(serverTiming(refused.headers['server-timing']).map((stage) => stage.name), ['body', 'check']);
});
