import t from 'tap';
import { UPSCALE_METHODS, upscaleMethod } from '../../src/interpolation/methods.js';
import type { Taps } from '../../src/interpolation/taps.js';

/** Taps as a dense out × in matrix, so hand-worked cases compare as plain numbers. */
function dense(taps: Taps): number[][] {
  return Array.from({ length: taps.outputLength }, (_, i) => {
    const row = new Array<number>(taps.inputLength).fill(0);
    for (let k = 0; k < taps.count; k++) row[taps.indices[i * taps.count + k]!]! += taps.weights[i * taps.count + k]!;
    return row;
  });
}

const close = (a: number[][], b: number[][], epsilon = 1e-6): boolean =>
  a.length === b.length && a.every((row, i) => row.every((v, j) => Math.abs(v - b[i]![j]!) <= epsilon));

const taps = (method: string, from: number, to: number): number[][] => dense(upscaleMethod(method).taps(from, to));

t.test('nearest: floor(i·in/out), 3 -> 5 picks 0 0 1 1 2', async (t) => {
  t.same(taps('nearest', 3, 5), [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]);
});

t.test('nearest-exact: floor((i+0.5)·in/out), 3 -> 5 picks 0 0 1 2 2', async (t) => {
  t.same(taps('nearest-exact', 3, 5), [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]);
});

t.test('nearest-exact at 1.5x: float32 2/3 makes (i+0.5)·scale land on 1, not 0.999…', async (t) => {
  // 64 -> 96: output 1 has centre 1.5·(2/3) = 1 exactly in real numbers; torch's float32 arithmetic gives
  // 1.0000000298, so it reads input 1. A double computation would give 0.9999999999999999 and read input 0.
  t.equal(taps('nearest-exact', 64, 96)[1]!.indexOf(1), 1);
  t.equal(taps('nearest-exact', 2, 3)[1]!.indexOf(1), 1);
});

t.test('bilinear 2 -> 4: clamped ends and 1/4, 3/4 weights', async (t) => {
  t.same(taps('bilinear', 2, 4), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]);
});

t.test('bilinear 3 -> 2 (downscale): centres at 0.25 and 1.75', async (t) => {
  t.same(taps('bilinear', 3, 2), [[0.75, 0.25, 0], [0, 0.25, 0.75]]);
});

t.test('bicubic 2x: Keys A=-0.75 at t=0.25/0.75 with replicated borders', async (t) => {
  // W(x) = 1.25|x|³ − 2.25|x|² + 1 for |x| ≤ 1, −0.75|x|³ + 3.75|x|² − 6|x| + 3 for 1 < |x| < 2.
  const w = (x: number): number => {
    const d = Math.abs(x);
    return d <= 1 ? 1.25 * d ** 3 - 2.25 * d ** 2 + 1 : d < 2 ? -0.75 * d ** 3 + 3.75 * d ** 2 - 6 * d + 3 : 0;
  };
  // 4 -> 8: output 3 samples source 1.25 -> taps at 0,1,2,3 with distances 1.25, 0.25, 0.75, 1.75.
  const row3 = [w(1.25), w(0.25), w(0.75), w(1.75)];
  t.ok(close([taps('bicubic', 4, 8)[3]!], [row3]));
  // Output 0 samples source −0.25 (not clamped): floor −1, t = 0.75, taps at cells −2, −1, 0, 1 with
  // distances 1.75, 0.75, 0.25, 1.25; cells −2 and −1 are replicas of cell 0.
  const row0 = [w(1.75) + w(0.75) + w(0.25), w(1.25), 0, 0];
  t.ok(close([taps('bicubic', 4, 8)[0]!], [row0]));
  t.same([w(1.5), w(0.5)], [-0.09375, 0.59375], 'the t=0.5 weights worked by hand');
});

t.test('area: 3 -> 2 averages overlapping windows [0,2) and [1,3)', async (t) => {
  t.same(taps('area', 3, 2), [[0.5, 0.5, 0], [0, 0.5, 0.5]]);
  t.same(taps('area', 4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]);
});

t.test('area equals nearest and nearest-exact for integer upscales', async (t) => {
  for (const [from, to] of [[3, 6], [5, 15], [7, 28]] as const) {
    t.same(taps('area', from, to), taps('nearest', from, to), `${from} -> ${to}`);
    t.same(taps('area', from, to), taps('nearest-exact', from, to), `${from} -> ${to}`);
  }
});

t.test('antialiased bilinear equals bilinear when enlarging, and averages wider when shrinking', async (t) => {
  for (const [from, to] of [[4, 8], [13, 31], [64, 96], [5, 7]] as const) {
    t.ok(close(taps('bilinear-antialiased', from, to), taps('bilinear', from, to)), `${from} -> ${to}`);
  }
  // 4 -> 2: scale 2, support 2; output 0 centre 1, taps at cells 0..2 with triangle (x - 1 + 0.5)/2 -> 0.75, 0.75, 0.25, normalised.
  t.ok(close(taps('bilinear-antialiased', 4, 2), [[0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75, 0], [0, 0.25 / 1.75, 0.75 / 1.75, 0.75 / 1.75]]));
});

t.test('antialiased bicubic uses A=-0.5 and renormalises dropped border taps', async (t) => {
  const keys = (x: number): number => {
    const d = Math.abs(x);
    return d < 1 ? 1.5 * d ** 3 - 2.5 * d ** 2 + 1 : d < 2 ? -0.5 * d ** 3 + 2.5 * d ** 2 - 4 * d + 2 : 0;
  };
  // 4 -> 8, output 3: centre 2 (input coordinates), cells 0..3 at distances 1.25, 0.25, 0.75, 1.75 (cell 4 is outside).
  const raw = [keys(1.25), keys(0.25), keys(0.75), keys(1.75)];
  const sum = raw.reduce((a, b) => a + b, 0);
  t.ok(close([taps('bicubic-antialiased', 4, 8)[3]!], [raw.map((v) => v / sum)]));
  // Output 0: centre 0.25, so cell c sits at distance |c + 0.5 − 0.25|: cells −2, −1 (dropped) and 0, 1
  // at 0.25 and 1.25, renormalised over the two that exist.
  const edge = [keys(0.25), keys(1.25)];
  const edgeSum = edge[0]! + edge[1]!;
  t.ok(close([taps('bicubic-antialiased', 4, 8)[0]!], [[edge[0]! / edgeSum, edge[1]! / edgeSum, 0, 0]]));
});

t.test('bislerp pairs: left cell, right cell and ratio of bilinear over arange', async (t) => {
  const pairs = upscaleMethod('bislerp').taps(2, 4);
  t.same(Array.from(pairs.indices), [0, 1, 0, 1, 0, 1, 1, 1]);
  t.same(Array.from(pairs.weights), [1, 0, 0.75, 0.25, 0.25, 0.75, 1, 0]);
});

const SIZES: [number, number][] = [[1, 1], [1, 5], [5, 1], [3, 5], [8, 12], [13, 31], [64, 96], [16, 38], [20, 9], [9, 3], [7, 7], [100, 7]];

t.test('every method: weights of each output sum to 1 (a constant stays constant)', async (t) => {
  for (const method of UPSCALE_METHODS) {
    for (const [from, to] of SIZES) {
      const rows = dense(method.taps(from, to));
      const worst = Math.max(...rows.map((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1)));
      t.ok(worst < 1e-6, `${method.name} ${from} -> ${to}: |Σw − 1| = ${worst.toExponential(1)}`);
    }
  }
});

t.test('every method: same size is the identity', async (t) => {
  for (const method of UPSCALE_METHODS) {
    const identity = Array.from({ length: 7 }, (_, i) => Array.from({ length: 7 }, (_, j) => (i === j ? 1 : 0)));
    t.ok(close(dense(method.taps(7, 7)), identity), method.name);
  }
});

t.test('half-pixel methods are mirror-symmetric: flipping the input flips the output', async (t) => {
  for (const name of ['bilinear', 'bicubic', 'area', 'bilinear-antialiased', 'bicubic-antialiased']) {
    for (const [from, to] of SIZES) {
      const rows = taps(name, from, to);
      const mirrored = rows.map((_, i) => [...rows[to - 1 - i]!].reverse());
      t.ok(close(rows, mirrored, 1e-5), `${name} ${from} -> ${to}`);
    }
  }
});

t.test('indices stay inside the input', async (t) => {
  for (const method of UPSCALE_METHODS) {
    for (const [from, to] of SIZES) {
      const { indices } = method.taps(from, to);
      t.ok(indices.every((i) => i >= 0 && i < from), `${method.name} ${from} -> ${to}`);
    }
  }
});

t.test('registry: extension names plus bislerp, aliases point at bilinear, unknown names list the valid ones', async (t) => {
  t.same(UPSCALE_METHODS.map((m) => m.name).sort(), ['area', 'bicubic', 'bicubic-antialiased', 'bilinear', 'bilinear-antialiased', 'bislerp', 'linear', 'nearest', 'nearest-exact', 'trilinear']);
  t.same(taps('linear', 5, 9), taps('bilinear', 5, 9));
  t.same(taps('trilinear', 5, 9), taps('bilinear', 5, 9));
  t.throws(() => upscaleMethod('lanczos'), { message: "unknown method 'lanczos' (allowed: nearest, nearest-exact, bilinear, bilinear-antialiased, bicubic, bicubic-antialiased, area, bislerp, linear, trilinear)" });
});
