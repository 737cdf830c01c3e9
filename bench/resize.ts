// bench/resize: every method, 1×4×128² → 256² and 1×4×256² → 512², through the engine (onnxruntime),
// through the plain JS loops of js-resize.ts, and through PyTorch CPU (the companion's torch code, run by
// TORCH_PYTHON or /usr/bin/python3 where it has torch), all in the same run on the same inputs. Prints
// medians, engine/torch (goal ≤ 2) and js/engine (goal ≥ 1), and the largest engine–JS difference.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resizeLatent } from '../src/engine/resize.js';
import { SessionPool, parseProviders } from '../src/engine/session-pool.js';
import { UPSCALE_METHODS } from '../src/interpolation/methods.js';
import { latent } from '../src/latent/tensor.js';
import { jsResize } from './js-resize.js';
import { median } from './statistics.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 21);
const SIZES = [[128, 256], [256, 512]] as const;
const CASES = UPSCALE_METHODS.filter((m) => m.aliasOf === undefined).flatMap((m) => SIZES.map((size) => ({ method: m.name, size })));

/** Median ms per case from PyTorch, or why there are none. */
function torchTimings(): { label: string; ms: number[] } | { skip: string } {
  for (const python of [process.env['TORCH_PYTHON'], '/usr/bin/python3', 'python3'].filter((p): p is string => !!p)) {
    const script = fileURLToPath(new URL('torch_resize.py', import.meta.url));
    const run = spawnSync(python, [script], { input: JSON.stringify({ repeats: REPEATS, cases: CASES }), encoding: 'utf8' });
    if (run.status !== 0) continue;
    const answer = JSON.parse(run.stdout) as { torch: string; threads: number; ms: number[] };
    return { label: `torch ${answer.torch} (${python}, ${answer.threads} threads)`, ms: answer.ms };
  }
  return { skip: 'no python3 with torch (set TORCH_PYTHON): engine/torch not measured' };
}

const pool = new SessionPool({ providers: parseProviders(process.env['EXECUTION_PROVIDERS'] ?? 'cpu'), intraOpThreads: 0 });
const torch = torchTimings();
console.log(`repeats ${REPEATS}, median ms; ${'skip' in torch ? torch.skip : torch.label}`);
console.log(['method', 'size', 'engine ms', 'torch ms', 'engine/torch', 'js ms', 'js/engine', 'max |engine-js|'].join('\t'));
// Engine first for every case, then the JS loops: interleaving them left the JS loops' garbage to be
// collected inside the engine's timings.
const inputs = CASES.map(({ size: [from] }) => latent([1, 4, from, from], Float32Array.from({ length: 4 * from * from }, (_, k) => Math.sin(k * 0.37) * 2)));
// One pass first, so that loading each graph's session and the first runs of the process are not timed.
for (const [i, { method, size: [, to] }] of CASES.entries()) await resizeLatent(pool, inputs[i]!, method, to, to);
const engine: { ms: number; out: Float32Array }[] = [];
for (const [i, { method, size: [, to] }] of CASES.entries()) {
  let out: Float32Array = new Float32Array(0);
  const ms = await median(REPEATS, async () => (out = (await resizeLatent(pool, inputs[i]!, method, to, to)).latent.data));
  engine.push({ ms, out });
}
for (const [i, { method, size: [from, to] }] of CASES.entries()) {
  let jsOut: Float32Array = new Float32Array(0);
  const js = await median(REPEATS, () => (jsOut = jsResize(inputs[i]!, method, to, to)));
  const { ms, out } = engine[i]!;
  const difference = out.reduce((worst, v, k) => Math.max(worst, Math.abs(v - jsOut[k]!)), 0);
  const torchMs = 'ms' in torch ? torch.ms[i]! : NaN;
  console.log([method, `${from}->${to}`, ms.toFixed(2), torchMs.toFixed(2), (ms / torchMs).toFixed(2), js.toFixed(2), (js / ms).toFixed(2), difference.toExponential(1)].join('\t'));
}
await pool.release();
