import t from 'tap';
import { getPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import { multipartBody, pngBase64, startService, testPng } from '../helpers/service.js';

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
    override_settings: { img2img_fix_steps: true, CLIP_stop_at_last_layers: 2, samples_format: 'png' },
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
    override_settings: { img2img_fix_steps: false, CLIP_stop_at_last_layers: 1, samples_format: 'png' },
    override_settings_restore_afterwards: true,
    scheduler: 'simple',
  }, 'defaults: 2x, 30 steps, denoise 0.5, cfg 7, Euler, clip skip 1 (sent, so the instance\'s own setting cannot apply); A1111\'s scheduler name; no scripts');

  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'nearest-exact' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json().message, /method 'nearest-exact' needs the companion extension: stock A1111 only upscales latents bilinearly \(allowed without it: bilinear, linear, trilinear\); install the companion extension \(a1111-extension\//);
  t.equal(service.fakes[0]!.received.length, 1, 'nothing was sent to A1111');
});

t.test('A1111 older than 1.9 (no /schedulers): automatic only, no scheduler field', async (t) => {
  const service = await startService({ companion: false, schedulers: false });
  t.teardown(() => service.close());
  const refused = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'bilinear', scheduler: 'karras' } });
  t.equal(refused.statusCode, 422);
  t.match(refused.json().message, /scheduler 'karras' needs A1111 1\.9 or newer, or the companion extension .*allowed: automatic/);
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
  t.same(service.fakes[0]!.received[0]!['override_settings'], { img2img_fix_steps: false, CLIP_stop_at_last_layers: 3, samples_format: 'png' });
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
