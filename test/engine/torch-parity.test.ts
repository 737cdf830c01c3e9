import t from 'tap';
import { resizeLatent } from '../../src/engine/resize.js';
import { SessionPool } from '../../src/engine/session-pool.js';
import { UPSCALE_METHOD_NAMES } from '../../src/interpolation/methods.js';
import { latent } from '../../src/latent/tensor.js';
import { findPython, fromBase64, runPythonJson, toBase64 } from '../helpers/python.js';
import { maxAbsDifference, randomValues } from '../helpers/random.js';
import { skipFileWithout } from '../helpers/references.js';

// Every method against torch.nn.functional.interpolate (and a transcription of ComfyUI's bislerp) run by
// PyTorch itself: batch > 1, 16 channels, non-square, odd sizes, 1.5x, 2.37x, downscales, 1-cell edges.
const CASES: { shape: [number, number, number, number]; height: number; width: number; label: string }[] = [
  { shape: [2, 4, 8, 12], height: 12, width: 18, label: '1.5x, batch 2, non-square' },
  { shape: [1, 4, 64, 64], height: 96, width: 96, label: '1.5x of an SD latent' },
  { shape: [1, 4, 13, 7], height: 31, width: 17, label: '≈2.37x, odd sizes' },
  { shape: [1, 16, 16, 16], height: 38, width: 38, label: '2.37x, 16 channels' },
  { shape: [1, 4, 5, 6], height: 10, width: 12, label: 'exact 2x' },
  { shape: [2, 4, 20, 14], height: 9, width: 6, label: 'non-integer downscale' },
  { shape: [1, 4, 9, 12], height: 3, width: 4, label: 'integer downscale' },
  { shape: [1, 4, 11, 10], height: 15, width: 7, label: 'up one axis, down the other' },
  { shape: [1, 3, 7, 5], height: 7, width: 5, label: 'same size' },
  { shape: [1, 4, 1, 1], height: 3, width: 4, label: 'from one cell' },
  { shape: [1, 4, 6, 4], height: 1, width: 1, label: 'to one cell' },
  // onnxruntime's nearest Resize picks other cells than torch at these sizes (2 -> 82, 2 -> 41), so the engine must not use it there.
  { shape: [1, 4, 2, 2], height: 82, width: 41, label: 'where onnxruntime\'s nearest differs from torch' },
  { shape: [1, 4, 64, 64], height: 171, width: 203, label: '≈2.7x and ≈3.2x of an SD latent' },
  { shape: [1, 4, 48, 48], height: 144, width: 144, label: 'exact 3x' },
];
// The nearest modes pick cells: they must pick the very cells torch picks.
const CELL_PICKING = new Set(['nearest', 'nearest-exact']);
// The others weigh cells by the distance to a source coordinate, which each side computes in floating
// point: torch 1.13's CPU kernel (Debian's python3-torch) in double, torch 2.x, CUDA and onnxruntime's
// Resize in float32, each in its own order. A coordinate of magnitude L (the input length) is then known to
// a few ulps, 4·L·2^-24; that moves a weight by at most the kernel's slope (< 1.5) times as much, and an
// output by that times the step between neighbours (≤ 2 for these unit-scale inputs).
const coordinateTolerance = (inputLength: number): number => Math.max(1e-5, 4 * inputLength * 2 ** -24 * 1.5 * 2);
// bislerp is held to 1e-4: for nearly opposite channel vectors slerp divides by sin ω ≈ 0, so one ulp of
// difference in the float dot product (torch and onnxruntime sum the channels in different orders)
// grows to ~3e-5 at a handful of such pixels; everywhere else it agrees to float precision.
const BISLERP_TOLERANCE = 1e-4;
const toleranceFor = (method: string, shape: readonly number[]): number =>
  method === 'bislerp' ? BISLERP_TOLERANCE : CELL_PICKING.has(method) ? 0 : coordinateTolerance(Math.max(shape[2]!, shape[3]!));

const python = findPython(['torch', 'numpy']);
if (!skipFileWithout(t, 'skip' in python ? python.skip : undefined) && 'python' in python) {
  const requests = CASES.flatMap((c, caseIndex) => UPSCALE_METHOD_NAMES.map((method) => {
    const data = randomValues(c.shape.reduce((a, b) => a * b, 1), 1000 + caseIndex);
    return { ...c, method, data };
  }));
  const reference = runPythonJson<{ torch: string; interpolate: string[] }>(python.python, 'torch_reference.py', {
    interpolate: requests.map((r) => ({ shape: r.shape, data: toBase64(r.data), height: r.height, width: r.width, method: r.method })),
  });
  t.comment(`reference: torch ${reference.torch}`);
  const pool = new SessionPool();
  t.teardown(() => pool.release());

  for (const [i, request] of requests.entries()) {
    t.test(`${request.method}: [${request.shape.join(',')}] -> ${request.height}x${request.width} (${request.label})`, async (t) => {
      const { latent: out } = await resizeLatent(pool, latent(request.shape, request.data), request.method, request.height, request.width);
      const expected = fromBase64(reference.interpolate[i]!);
      const difference = maxAbsDifference(out.data, expected);
      const tolerance = toleranceFor(request.method, request.shape);
      t.ok(difference <= tolerance, `max |ours - torch| = ${difference.toExponential(2)} <= ${tolerance.toExponential(2)}`);
    });
  }

  t.test('bislerp edge cases: zero, parallel and opposite channel vectors', async (t) => {
    // Columns: a vector, the same vector scaled (parallel), its negation (opposite), zero, another vector.
    const columns = [[1, 2, 0, -1], [2, 4, 0, -2], [-2, -4, 0, 2], [0, 0, 0, 0], [0.5, -1, 3, 1]];
    const data = new Float32Array(4 * 2 * columns.length);
    for (let c = 0; c < 4; c++) for (let y = 0; y < 2; y++) for (let x = 0; x < columns.length; x++) data[(c * 2 + y) * columns.length + x] = columns[x]![c]! * (y + 1);
    const shape: [number, number, number, number] = [1, 4, 2, columns.length];
    const [expected] = runPythonJson<{ interpolate: string[] }>(python.python, 'torch_reference.py', {
      interpolate: [{ shape, data: toBase64(data), height: 5, width: 13, method: 'bislerp' }],
    }).interpolate;
    const { latent: out } = await resizeLatent(pool, latent(shape, data), 'bislerp', 5, 13);
    const difference = maxAbsDifference(out.data, fromBase64(expected!));
    t.ok(difference <= BISLERP_TOLERANCE, `max |ours - ComfyUI bislerp| = ${difference.toExponential(2)}`);
  });
}
