import sharp from 'sharp';
import t from 'tap';
import { encodeNpy } from '../../src/formats/npy.js';
import { concat, encodeRgbPng, pngChunk, readPngChunks } from '../../src/images/png.js';
import { latent } from '../../src/latent/tensor.js';
import { multipartBody, pngBase64, startService, testPng } from '../helpers/service.js';

// Every input is checked before a backend sees it: the fake A1111 counts what it received, so a refusal
// that reached it would show.
const service = await startService({ companion: true, schedulers: true });
t.teardown(() => service.close());
const fake = service.fakes[0]!;

const post = (url: string, payload: Record<string, unknown>) => service.app.inject({ method: 'POST', url, payload });

/** The init image A1111 was last sent, decoded. */
async function lastInitImage(): Promise<{ width: number; height: number; pixel: (x: number, y: number) => number[] }> {
  const body = fake.received[fake.received.length - 1]!;
  const bytes = Buffer.from((body['init_images'] as string[])[0]!, 'base64');
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixel: (x, y) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)] };
}

function brokenPngs(): Record<string, Buffer> {
  const png = Buffer.from(testPng(64, 48));
  const truncated = png.subarray(0, Math.floor(png.length * 0.6));
  const flipped = Buffer.from(png);
  const idat = flipped.indexOf('IDAT');
  for (let i = idat + 12; i < idat + 40; i++) flipped[i] = flipped[i]! ^ 0xff;
  // Headers whose chunks are whole (their CRCs recomputed) but that no decoder takes: RGB has no 4-bit
  // depth and there is no interlace method 2 (PNG spec §11.2.2).
  const withHeader = (at: number, value: number): Buffer => {
    const header = Buffer.from(png.subarray(16, 29));
    header[at] = value;
    return Buffer.concat([png.subarray(0, 8), pngChunk('IHDR', header), png.subarray(33)]);
  };
  return { truncated, 'flipped IDAT bytes': flipped, 'RGB at 4 bits': withHeader(8, 4), 'interlace method 2': withHeader(12, 2) };
}

t.test('a truncated or corrupt image is 422 IMAGE_UNREADABLE, in JSON and multipart, and A1111 is never called', async (t) => {
  const before = fake.received.length;
  const where = {
    truncated: /its IDAT chunk at byte 33 is cut short/, 'flipped IDAT bytes': /its IDAT chunk at byte 33 fails its CRC/,
    'RGB at 4 bits': /colour type 2 a bit depth of 4 \(allowed: 8, 16\)/, 'interlace method 2': /interlace method 2/,
  };
  for (const [name, bytes] of Object.entries(brokenPngs())) {
    for (const url of ['/upscale', '/jobs']) {
      const json = await post(url, { image: bytes.toString('base64') });
      t.equal(json.statusCode, 422, `${name}, JSON, ${url}`);
      t.match(json.json(), { code: 'IMAGE_UNREADABLE', message: /^image: the PNG does not decode; it is truncated or corrupt/ });
      t.match(json.json().message, where[name as keyof typeof where], `${name}: says where`);
      const form = multipartBody(bytes, { scale: '2' });
      const multipart = await service.app.inject({ method: 'POST', url, ...form });
      t.equal(multipart.statusCode, 422, `${name}, multipart, ${url}`);
      t.equal(multipart.json().code, 'IMAGE_UNREADABLE');
    }
  }
  t.equal(fake.received.length, before, 'A1111 received nothing');
});

// A PNG carries EXIF in an eXIf chunk (PNG spec §11.3.4.4; sharp writes one), and sharp honours it as in a JPEG.
for (const format of ['jpeg', 'png'] as const) {
  t.test(`EXIF orientation is applied: a landscape ${format.toUpperCase()} tagged orientation 6 goes to A1111 upright`, async (t) => {
    // 64×32: left half red, right half blue. Orientation 6 means "rotate 90° clockwise to view", so the
    // upright image is 32×64 with red on top.
    const halves = encodeRgbPng(64, 32, (x) => (x < 32 ? [255, 0, 0] : [0, 0, 255]));
    const tagged = await (format === 'jpeg' ? sharp(halves).jpeg({ quality: 95 }) : sharp(halves).png()).withMetadata({ orientation: 6 }).toBuffer();
    const response = await post('/upscale', { image: tagged.toString('base64'), scale: 2 });
    t.equal(response.statusCode, 200);
    const sent = await lastInitImage();
    t.same([sent.width, sent.height], [32, 64], 'portrait, as a viewer shows it');
    t.ok(sent.pixel(16, 8)[0]! > 200 && sent.pixel(16, 8)[2]! < 60, `top is red: ${sent.pixel(16, 8)}`);
    t.ok(sent.pixel(16, 56)[2]! > 200 && sent.pixel(16, 56)[0]! < 60, `bottom is blue: ${sent.pixel(16, 56)}`);
    const json = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: tagged.toString('base64'), scale: 2 }, headers: { accept: 'application/json' } });
    t.match(json.json().parameters, { input_width: 32, input_height: 64, width: 64, height: 128, notes: [/EXIF orientation 6 applied: 64×32 became 32×64/] });
  });
}

t.test('alpha is flattened onto background_color (default white), as A1111 does, instead of dropped', async (t) => {
  // Left half opaque green, right half fully transparent red: dropping alpha would send red.
  const rgba = Buffer.alloc(32 * 16 * 4);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 32; x++) rgba.set(x < 16 ? [0, 200, 0, 255] : [255, 0, 0, 0], (y * 32 + x) * 4);
  }
  const png = await sharp(rgba, { raw: { width: 32, height: 16, channels: 4 } }).png().toBuffer();
  for (const [background, expected] of [[undefined, [255, 255, 255]], ['#102030', [16, 32, 48]]] as const) {
    const response = await post('/upscale', { image: png.toString('base64'), ...(background ? { background_color: background } : {}) });
    t.equal(response.statusCode, 200);
    const sent = await lastInitImage();
    t.same(sent.pixel(4, 8), [0, 200, 0], 'the opaque half is kept');
    t.same(sent.pixel(28, 8), expected, `the transparent half is ${background ?? 'white'}`);
  }
  const bad = await post('/upscale', { image: png.toString('base64'), background_color: 'white' });
  t.match(bad.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /body\.background_color: must be a colour as #rrggbb/ });
});

t.test('unknown fields are refused naming each, with the field an A1111 name means; multipart and query strings too', async (t) => {
  const before = fake.received.length;
  const json = await post('/upscale', { image: pngBase64(), denoising_strength: 0.3, sampler_name: 'Euler a', fixSteps: false, colour: 'x' });
  t.equal(json.statusCode, 400);
  t.equal(json.json().code, 'UNKNOWN_FIELD');
  const message: string = json.json().message;
  t.match(message, /unknown field 'denoising_strength' \(an A1111 name; here it is 'denoise'\)/);
  t.match(message, /unknown field 'sampler_name' \(an A1111 name; here it is 'sampler'\)/);
  t.match(message, /unknown field 'fixSteps' \(did you mean 'fix_steps'\?\)/);
  t.match(message, /unknown field 'colour'; allowed: scale, width, height, method/);
  const jobs = await post('/jobs', { image: pngBase64(), init_images: [pngBase64()] });
  t.match(jobs.json(), { statusCode: 400, code: 'UNKNOWN_FIELD', message: /'init_images' \(an A1111 name; here it is 'image'\)/ });
  const form = await service.app.inject({ method: 'POST', url: '/upscale', ...multipartBody(testPng(), { denoising_strength: '0.3' }) });
  t.match(form.json(), { statusCode: 400, code: 'UNKNOWN_FIELD', message: /'denoising_strength' \(an A1111 name; here it is 'denoise'\)/ });
  const query = await service.app.inject({ url: '/sigmas?steps=10&denoising_strength=0.3' });
  t.match(query.json(), { statusCode: 400, code: 'UNKNOWN_FIELD', message: /^querystring: unknown field 'denoising_strength' \(an A1111 name; here it is 'denoise'\)/ });
  t.equal(fake.received.length, before, 'nothing ran with a default in place of what was meant');
});

t.test('A1111\'s combined sampler labels are a sampler and a scheduler, in /upscale, /jobs and /sigmas', async (t) => {
  const upscale = await post('/upscale', { image: pngBase64(), sampler: 'DPM++ 2M Karras' });
  t.equal(upscale.statusCode, 200);
  t.match(fake.received[fake.received.length - 1], { sampler_name: 'DPM++ 2M', alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'nearest-exact', 'karras'] } } });
  const job = await post('/jobs', { image: pngBase64(), sampler: 'euler a karras', scheduler: 'karras' });
  t.equal(job.statusCode, 202, 'the same scheduler twice is fine');
  t.match(job.json().parameters, { sampler: 'euler_ancestral', scheduler: 'karras' });
  const conflict = await post('/jobs', { image: pngBase64(), sampler: 'DPM++ 2M Karras', scheduler: 'simple' });
  t.match(conflict.json(), { statusCode: 422, code: 'CONFLICTING_FIELDS', message: /sampler 'DPM\+\+ 2M Karras' names the karras scheduler but scheduler is 'simple'/ });
  const combined = await service.app.inject({ url: `/sigmas?steps=12&denoise=0.4&sampler=${encodeURIComponent('DPM++ 2M Karras')}` });
  const separate = await service.app.inject({ url: `/sigmas?steps=12&denoise=0.4&sampler=${encodeURIComponent('DPM++ 2M')}&scheduler=karras` });
  t.equal(combined.statusCode, 200);
  t.same(combined.json(), separate.json());
  const unknown = await service.app.inject({ url: `/sigmas?steps=12&sampler=${encodeURIComponent('DPM++ 9M Karras')}` });
  t.match(unknown.json(), { code: 'UNKNOWN_SAMPLER', message: /or a label with its scheduler, as "DPM\+\+ 2M Karras"/ });
});

t.test('POST /jobs refuses up front what a job would fail on: steps 150 at denoise 0.01', async (t) => {
  for (const url of ['/jobs', '/upscale']) {
    const response = await post(url, { image: pngBase64(), steps: 150, denoise: 0.01 });
    t.match(response.json(), { statusCode: 422, code: 'INVALID_SCHEDULE', error: 'Unprocessable Entity', message: /needs a 15000-step schedule; the limit is 10000/ }, url);
  }
  t.notOk(fake.received.some((body) => body['steps'] === 150), 'no such job reached A1111');
});

t.test('a failed job answers with its own status, code and title, not "Job failed"', async (t) => {
  fake.behaviour.failAlways = { status: 500, body: { error: 'RuntimeError', detail: 'CUDA out of memory' } };
  t.teardown(() => {
    fake.behaviour.failAlways = undefined;
  });
  const response = await post('/upscale', { image: pngBase64() });
  t.match(response.json(), { statusCode: 502, code: 'BACKEND_BAD_ANSWER', error: 'Bad Gateway', message: /answered 500 .*CUDA out of memory/ });
});

t.test('booleans read the same in JSON, multipart and query strings', async (t) => {
  for (const [text, value] of [['false', false], ['0', false], ['no', false], ['Off', false], ['true', true], ['1', true], ['yes', true]] as const) {
    const json = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), fix_steps: text } });
    t.equal(json.json().parameters.fix_steps, value, `JSON "${text}"`);
    const form = await service.app.inject({ method: 'POST', url: '/jobs', ...multipartBody(testPng(), { fix_steps: text }) });
    t.equal(form.json().parameters.fix_steps, value, `multipart "${text}"`);
    const query = await service.app.inject({ url: `/sigmas?steps=10&denoise=0.5&fix_steps=${text}` });
    t.equal(query.json().steps_run, value ? 10 : 6, `query "${text}": ${value ? 'all 10 steps' : '⌊0.5·10⌋ + 1'} run`);
  }
  for (const [value, expected] of [[false, false], [true, true], [0, false], [1, true]] as const) {
    const json = await post('/jobs', { image: pngBase64(), fix_steps: value });
    t.equal(json.json().parameters.fix_steps, expected, `JSON ${value}`);
  }
  const two = await post('/jobs', { image: pngBase64(), fix_steps: 2 });
  t.match(two.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /body\.fix_steps: must be true or false/ }, 'JSON 2');
  for (const bad of ['maybe', '']) {
    const response = await service.app.inject({ url: `/sigmas?steps=10&fix_steps=${bad}` });
    t.match(response.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /querystring\.fix_steps: must be true or false/ }, `"${bad}"`);
  }
});

t.test('control characters in prompts are refused with 400; tab and newlines are fine', async (t) => {
  for (const [field, text, code] of [['prompt', 'a cat\u0000, detailed', '0000'], ['negative_prompt', 'blurry\u001b[31m', '001B'], ['prompt', 'x\u007f', '007F']] as const) {
    const response = await post('/upscale', { image: pngBase64(), [field]: text });
    t.match(response.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: new RegExp(`body\\.${field}: contains control character U\\+${code} at position`) }, field);
  }
  const fine = await post('/jobs', { image: pngBase64(), prompt: 'a cat\tsitting\r\non a mat\n' });
  t.equal(fine.statusCode, 202);
});

t.test('POST /latents/resize is bounded in latent cells by MAX_OUTPUT_MEGAPIXELS; a non-latent body says so', async (t) => {
  const tiny = Buffer.from(encodeNpy(latent([1, 4, 1, 1], new Float32Array(4))));
  t.ok(tiny.length < 200, `a ${tiny.length}-byte .npy`);
  const huge = await service.app.inject({ method: 'POST', url: '/latents/resize?width=8192&height=8192', payload: tiny, headers: { 'content-type': 'application/octet-stream' } });
  // MAX_OUTPUT_MEGAPIXELS 16 (the default) is 16e6 / 64 = 250000 cells of 8×8 pixels.
  t.match(huge.json(), { statusCode: 413, code: 'LATENT_TOO_LARGE', message: /output latent 8192×8192 is 67108864 cells; the limit is 250000/ });
  const atLimit = await service.app.inject({ method: 'POST', url: '/latents/resize?width=500&height=500', payload: tiny, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(atLimit.statusCode, 200, '500×500 = 250000 cells is within it');
  const planes = Buffer.from(encodeNpy(latent([5, 4, 1, 1], new Float32Array(20))));
  const tooMany = await service.app.inject({ method: 'POST', url: '/latents/resize?width=500&height=500', payload: planes, headers: { 'content-type': 'application/octet-stream' } });
  t.match(tooMany.json(), { statusCode: 413, code: 'LATENT_TOO_LARGE', message: /has 5000000 values; the limit is 4000000/ });
  const png = await service.app.inject({ method: 'POST', url: '/latents/resize?scale=2', payload: Buffer.from(testPng()), headers: { 'content-type': 'application/octet-stream' } });
  t.match(png.json(), { statusCode: 422, code: 'LATENT_UNREADABLE', message: /^body: not a \.npy, safetensors or ComfyUI \.latent file \(it starts with 89504e470d0a1a0a; it is a PNG image/ });
});

t.test('palette transparency, grey + alpha and an RGB colour key are flattened too, as A1111 flattens any image with transparency', async (t) => {
  // Left half opaque, right half transparent red: every kind must reach A1111 white on the right.
  const rgba = Buffer.alloc(8 * 4 * 4);
  for (let i = 0; i < 32; i++) rgba.set(i % 8 < 4 ? [0, 200, 0, 255] : [255, 0, 0, 0], i * 4);
  const raw = { raw: { width: 8, height: 4, channels: 4 as const } };
  const rgb = encodeRgbPng(8, 4, (x) => (x < 4 ? [0, 200, 0] : [255, 0, 0]));
  const chunks = readPngChunks(rgb);
  // tRNS for colour type 2: the 16-bit red, green and blue of the one transparent colour (PNG spec §11.3.2.1).
  const colourKey = concat([rgb.subarray(0, 8), chunks[0]!.stored, pngChunk('tRNS', Uint8Array.from([0, 255, 0, 0, 0, 0])), ...chunks.slice(1).map((c) => c.stored)]);
  const kinds: Record<string, Uint8Array> = {
    'palette with tRNS': await sharp(rgba, raw).png({ palette: true }).toBuffer(),
    'grey + alpha': await sharp(rgba, raw).toColourspace('b-w').png().toBuffer(),
    'RGB colour key': colourKey,
  };
  for (const [kind, png] of Object.entries(kinds)) {
    const response = await post('/upscale', { image: Buffer.from(png).toString('base64'), scale: 2 });
    t.equal(response.statusCode, 200, `${kind}: ${response.body.slice(0, 120)}`);
    const sent = await lastInitImage();
    t.same(sent.pixel(6, 1), [255, 255, 255], `${kind}: the transparent part arrives white`);
    t.not(sent.pixel(1, 1).join(), '255,255,255', `${kind}: the opaque part is kept`);
  }
});
