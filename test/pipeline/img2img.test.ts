import { createHash } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { SessionPool } from '../../src/engine/session-pool.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { decodeImage } from '../../src/images/decode.js';
import { loadModel } from '../../src/models/loader.js';
import { runImg2img, toPlanar, type Img2imgRequest } from '../../src/pipeline/img2img.js';
import { vaeDecode, vaeEncode } from '../../src/pipeline/stages.js';
import { NATIVE_SAMPLERS } from '../../src/samplers/k-diffusion.js';
import { SCHEDULERS } from '../../src/schedules/schedulers.js';
import { modelsFolder, VARIANTS } from '../helpers/models.js';

const root = await modelsFolder(t, VARIANTS);
const pool = new SessionPool();
t.teardown(() => pool.release());
const model = await loadModel(join(root, 'tiny'), 'tiny', pool);
const image = await decodeImage(encodeRgbPng(52, 36, (x, y) => [x * 4, y * 6, (x * y) % 256]));
const NO_TILES = { tile: 1024, overlap: 16 };
const base: Img2imgRequest = {
  image, width: 104, height: 72, method: 'nearest-exact', scheduler: 'simple', steps: 4, denoise: 0.5, fixSteps: true,
  sampler: 'euler', cfgScale: 7, seed: 42, prompt: 'a cat', negativePrompt: 'blurry', clipSkip: 1,
};
const digest = (pixels: Uint8Array): string => createHash('sha256').update(pixels).digest('hex');

t.test('output has the requested size, also when it is not a multiple of 64', async (t) => {
  for (const [width, height] of [[104, 72], [200, 136], [64, 64]] as const) {
    const out = await runImg2img(model, pool, { ...base, width, height }, NO_TILES);
    t.same([out.width, out.height, out.pixels.length], [width, height, width * height * 3]);
  }
});

t.test('the same seed gives the same bytes; another seed differs; so does another prompt', async (t) => {
  const a = digest((await runImg2img(model, pool, base, NO_TILES)).pixels);
  t.equal(digest((await runImg2img(model, pool, base, NO_TILES)).pixels), a);
  t.not(digest((await runImg2img(model, pool, { ...base, seed: 43 }, NO_TILES)).pixels), a);
  t.not(digest((await runImg2img(model, pool, { ...base, prompt: 'a dog' }, NO_TILES)).pixels), a);
});

t.test('progress reports exactly the sampled steps: fix steps on and off', async (t) => {
  for (const [fixSteps, expected] of [[true, 10], [false, 6]] as const) {
    const seen: string[] = [];
    await runImg2img(model, pool, { ...base, steps: 10, denoise: 0.5, fixSteps }, NO_TILES, { onStep: (step, steps) => void seen.push(`${step}/${steps}`) });
    t.same(seen, Array.from({ length: expected }, (_, i) => `${i + 1}/${expected}`), `fix steps ${fixSteps}: ${expected} steps (int(0.5·10)+1 = 6 without)`);
  }
});

t.test('cancellation between steps stops the run', async (t) => {
  let steps = 0;
  await t.rejects(runImg2img(model, pool, { ...base, steps: 8 }, NO_TILES, { onStep: (step) => { steps = step; if (step === 3) throw new Error('cancelled'); } }), { message: 'cancelled' });
  t.equal(steps, 3);
});

t.test('every native sampler and every scheduler runs and gives a valid image', async (t) => {
  for (const sampler of Object.keys(NATIVE_SAMPLERS)) {
    const out = await runImg2img(model, pool, { ...base, sampler }, NO_TILES);
    t.equal(out.pixels.length, 104 * 72 * 3, sampler);
  }
  for (const scheduler of SCHEDULERS.map((s) => s.name)) {
    const out = await runImg2img(model, pool, { ...base, scheduler }, NO_TILES);
    t.equal(out.pixels.length, 104 * 72 * 3, scheduler);
  }
});

t.test('every export variant runs end to end', async (t) => {
  for (const name of Object.keys(VARIANTS)) {
    const variant = await loadModel(join(root, name), name, pool);
    const out = await runImg2img(variant, pool, base, NO_TILES);
    t.equal(out.width, 104, name);
  }
});

t.test('a tiled decode of a smooth latent matches the untiled one closely', async (t) => {
  const [height, width] = [40, 56];
  const data = new Float32Array(4 * height * width);
  for (let c = 0; c < 4; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    data[(c * height + y) * width + x] = 0.6 * Math.sin(x / 9 + c) * Math.cos(y / 7 - c);
  }
  const latent = { channels: 4, height, width, data };
  const whole = await vaeDecode(model, latent, { tile: 1024, overlap: 8 });
  const tiledResult = await vaeDecode(model, latent, { tile: 24, overlap: 8 });
  t.same([tiledResult.height, tiledResult.width], [whole.height, whole.width]);
  let worst = 0;
  for (let i = 0; i < whole.data.length; i++) worst = Math.max(worst, Math.abs(whole.data[i]! - tiledResult.data[i]!));
  t.ok(worst < 0.02, `max |tiled − whole| = ${worst.toExponential(2)} on a [−1, 1] image`);
  t.ok(worst > 0, 'tiles really were used (zero padding at tile edges changes a few pixels)');
});

t.test('a tiled encode equals the untiled one where the encoder is local (8×8 patches)', async (t) => {
  const picture = toPlanar(await decodeImage(encodeRgbPng(320, 256, (x, y) => [(x * 3) % 256, (y * 2) % 256, (x + y) % 256])));
  const whole = await vaeEncode(model, picture, { tile: 1024, overlap: 8 });
  const tiledResult = await vaeEncode(model, picture, { tile: 16, overlap: 4 });
  t.same([tiledResult.channels, tiledResult.height, tiledResult.width], [4, 32, 40]);
  let worst = 0;
  for (let i = 0; i < whole.data.length; i++) worst = Math.max(worst, Math.abs(whole.data[i]! - tiledResult.data[i]!));
  t.ok(worst < 1e-5, `max |tiled − whole| = ${worst.toExponential(2)}`);
});
