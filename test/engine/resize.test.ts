import t from 'tap';
import { resizeLatent } from '../../src/engine/resize.js';
import { SessionPool, parseProviders } from '../../src/engine/session-pool.js';
import { latent, zeros } from '../../src/latent/tensor.js';
import { UPSCALE_METHOD_NAMES } from '../../src/interpolation/methods.js';
import { maxAbsDifference } from '../helpers/random.js';

const pool = new SessionPool();
t.teardown(() => pool.release());

t.test('bilinear 2x2 -> 4x4 is the outer product of the hand-worked 1-D weights', async (t) => {
  const x = latent([1, 1, 2, 2], Float32Array.from([1, 2, 3, 4]));
  const { latent: y, provider } = await resizeLatent(pool, x, 'bilinear', 4, 4);
  const w = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]];
  const expected = w.flatMap((wy) => w.map((wx) => wy[0]! * (wx[0]! * 1 + wx[1]! * 2) + wy[1]! * (wx[0]! * 3 + wx[1]! * 4)));
  t.same(Array.from(y.data), expected);
  t.same(y.shape, [1, 1, 4, 4]);
  t.equal(provider, 'cpu');
});

t.test('nearest-exact 2x repeats each cell in a 2x2 block, for every batch item and channel', async (t) => {
  const x = latent([2, 3, 2, 2], Float32Array.from({ length: 24 }, (_, i) => i));
  const { latent: y } = await resizeLatent(pool, x, 'nearest-exact', 4, 4);
  for (let plane = 0; plane < 6; plane++) {
    for (let i = 0; i < 16; i++) {
      const [row, column] = [Math.floor(i / 4), i % 4];
      t.equal(y.data[plane * 16 + i], plane * 4 + Math.floor(row / 2) * 2 + Math.floor(column / 2));
    }
  }
});

t.test('area 4x6 -> 2x3 is the mean of each 2x2 block', async (t) => {
  const x = latent([1, 1, 4, 6], Float32Array.from({ length: 24 }, (_, i) => i * i));
  const { latent: y } = await resizeLatent(pool, x, 'area', 2, 3);
  const at = (r: number, c: number): number => (r * 6 + c) ** 2;
  const expected = [0, 1].flatMap((r) => [0, 1, 2].map((c) => (at(2 * r, 2 * c) + at(2 * r, 2 * c + 1) + at(2 * r + 1, 2 * c) + at(2 * r + 1, 2 * c + 1)) / 4));
  t.ok(maxAbsDifference(y.data, expected) < 1e-4);
});

t.test('bislerp of orthogonal unit vectors keeps unit length (bilinear would shrink it to 0.79)', async (t) => {
  // One row, two pixels, 2 channels: (1, 0) and (0, 1). Width 2 -> 4 gives ratios 0, 1/4, 3/4 and the right cell.
  const x = latent([1, 2, 1, 2], Float32Array.from([1, 0, 0, 1]));
  const { latent: y } = await resizeLatent(pool, x, 'bislerp', 1, 4);
  const angle = (r: number): [number, number] => [Math.cos((r * Math.PI) / 2), Math.sin((r * Math.PI) / 2)];
  const pixels = [angle(0), angle(0.25), angle(0.75), angle(1)];
  const expected = [...pixels.map((p) => p[0]), ...pixels.map((p) => p[1])];
  t.ok(maxAbsDifference(y.data, expected) < 1e-6, `${Array.from(y.data)} vs ${expected}`);
});

t.test('bislerp: opposite vectors fall back to a plain lerp, equal vectors stay put', async (t) => {
  // Pixels (1, 2) and (-1, -2): channel 0 holds [1, -1], channel 1 holds [2, -2].
  const x = latent([1, 2, 1, 2], Float32Array.from([1, -1, 2, -2]));
  const { latent: y } = await resizeLatent(pool, x, 'bislerp', 1, 4);
  const lerp = (r: number): [number, number] => [1 - 2 * r, 2 - 4 * r];
  const pixels = [lerp(0), lerp(0.25), lerp(0.75), lerp(1)];
  t.ok(maxAbsDifference(y.data, [...pixels.map((p) => p[0]), ...pixels.map((p) => p[1])]) < 1e-6);
  const constant = latent([1, 4, 3, 3], new Float32Array(36).fill(0.5));
  const { latent: up } = await resizeLatent(pool, constant, 'bislerp', 7, 5);
  t.ok(up.data.every((v) => Math.abs(v - 0.5) < 1e-6));
});

t.test('every method keeps a constant latent constant and handles 16 channels', async (t) => {
  const x = latent([1, 16, 5, 7], new Float32Array(16 * 35).fill(-1.25));
  for (const method of UPSCALE_METHOD_NAMES) {
    const { latent: y } = await resizeLatent(pool, x, method, 11, 9);
    t.same(y.shape, [1, 16, 11, 9], method);
    t.ok(y.data.every((v) => Math.abs(v + 1.25) < 1e-5), `${method} stays -1.25`);
  }
});

t.test('zero and huge target sizes are refused before any work', async (t) => {
  const x = zeros([1, 4, 8, 8]);
  await t.rejects(resizeLatent(pool, x, 'bilinear', 0, 8), { message: 'target height must be an integer from 1 to 8192 latent cells; got 0' });
  await t.rejects(resizeLatent(pool, x, 'bilinear', 8, 100000), { message: /target width must be an integer from 1 to 8192/ });
  await t.rejects(resizeLatent(pool, x, 'bilinear', 8.5, 8), { message: /target height must be an integer/ });
  await t.rejects(resizeLatent(pool, zeros([64, 16, 8, 8]), 'bilinear', 8192, 8192), { message: /has 68719476736 values; the limit is/ });
  await t.rejects(resizeLatent(pool, x, 'lanczos', 8, 8), { message: /unknown method 'lanczos' \(allowed: nearest, nearest-exact/ });
});

t.test('providers: parsed and validated; an unavailable provider falls back with a reason', async (t) => {
  t.same(parseProviders('cuda, CPU'), ['cuda', 'cpu']);
  t.throws(() => parseProviders('tpu'), { message: "unknown execution provider 'tpu' (allowed: cuda, cpu)" });
  t.throws(() => parseProviders(' , '), { message: /at least one/ });
  const fallbackPool = new SessionPool({ providers: ['cuda', 'cpu'], intraOpThreads: 1 });
  t.teardown(() => fallbackPool.release());
  const { provider, fallbacks, latent: y } = await resizeLatent(fallbackPool, latent([1, 1, 1, 2], Float32Array.from([0, 1])), 'bilinear', 1, 4);
  t.same(Array.from(y.data), [0, 0.25, 0.75, 1]);
  if (provider === 'cpu') t.match(fallbacks[0], /^cuda unavailable: /, 'says why cuda was skipped');
  else t.equal(provider, 'cuda');
});
