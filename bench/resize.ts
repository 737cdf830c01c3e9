// bench/resize: every method, 1×4×128×128 → 256×256 and 1×4×256×256 → 512×512, through the engine
// (onnxruntime) and through the plain JS loops of js-resize.ts in the same run. Prints medians and the
// JS/engine ratio (> 1 means the engine is faster), plus the largest difference between the two.
import { resizeLatent } from '../src/engine/resize.js';
import { SessionPool, parseProviders } from '../src/engine/session-pool.js';
import { UPSCALE_METHODS } from '../src/interpolation/methods.js';
import { latent } from '../src/latent/tensor.js';
import { jsResize } from './js-resize.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 7);
const SIZES = [[128, 256], [256, 512]] as const;

async function median(run: () => Promise<unknown> | unknown): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

const pool = new SessionPool({ providers: parseProviders(process.env['EXECUTION_PROVIDERS'] ?? 'cpu'), intraOpThreads: 0 });
console.log(`repeats ${REPEATS}, median ms; ratio = js / engine`);
console.log(['method', 'size', 'engine ms', 'js ms', 'ratio', 'max |diff|'].join('\t'));
for (const method of UPSCALE_METHODS.filter((m) => m.aliasOf === undefined)) {
  for (const [from, to] of SIZES) {
    const input = latent([1, 4, from, from], Float32Array.from({ length: 4 * from * from }, (_, i) => Math.sin(i * 0.37) * 2));
    let engineOut: Float32Array = new Float32Array(0);
    let jsOut: Float32Array = new Float32Array(0);
    const engine = await median(async () => (engineOut = (await resizeLatent(pool, input, method.name, to, to)).latent.data));
    const js = await median(() => (jsOut = jsResize(input, method.name, to, to)));
    const difference = engineOut.reduce((worst, v, i) => Math.max(worst, Math.abs(v - jsOut[i]!)), 0);
    console.log([method.name, `${from}->${to}`, engine.toFixed(2), js.toFixed(2), (js / engine).toFixed(2), difference.toExponential(1)].join('\t'));
  }
}
await pool.release();
