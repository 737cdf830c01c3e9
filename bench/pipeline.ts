// bench/pipeline: where a native img2img step's time goes, what CFG batching buys, and peak memory for
// large outputs with and without the tiled VAE. Uses generated models (no real weights here): a UNet made
// heavy enough (128 channels, 4 residual 3×3 blocks) that a step costs real work, so the pipeline's own
// overhead ratio means something. The CUDA provider cannot be installed on this machine: not measured.
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { SessionPool } from '../src/engine/session-pool.js';
import { loadModel } from '../src/models/loader.js';
import { writeTestModel } from '../src/models/test-model.js';
import { runImg2img } from '../src/pipeline/img2img.js';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'rss') {
  // Child process: one img2img at the given output size, then print this process's peak RSS.
  const [modelDir, side, tile] = args as [string, string, string];
  const pool = new SessionPool();
  const model = await loadModel(modelDir, 'bench', pool);
  const size = Number(side);
  await runImg2img(model, pool, {
    image: { width: size / 2, height: size / 2, pixels: new Uint8Array((size / 2) ** 2 * 3).fill(100) },
    width: size, height: size, method: 'nearest-exact', scheduler: 'simple', steps: 1, denoise: 0.5, fixSteps: true,
    sampler: 'euler', cfgScale: 7, seed: 1, prompt: '', negativePrompt: '', clipSkip: 1,
  }, { tile: Number(tile), overlap: 16 });
  console.log(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const root = await mkdtemp(join(tmpdir(), 'bench-pipeline-'));
const heavy = join(root, 'heavy');
const light = join(root, 'light');
await writeTestModel(heavy, { unetChannels: 128, unetDepth: 4, hiddenSize: 64 });
await writeTestModel(light, {});

const pool = new SessionPool();
const model = await loadModel(heavy, 'heavy', pool);
const unet = model.sessions.unet;
const originalRun = unet.run.bind(unet);
const unetDurations: number[] = [];
(unet as { run: typeof unet.run }).run = (async (...runArgs: Parameters<typeof unet.run>) => {
  const start = performance.now();
  const result = await originalRun(...runArgs);
  unetDurations.push(performance.now() - start);
  return result;
}) as typeof unet.run;

const steps = 10;
const request = {
  image: { width: 256, height: 256, pixels: new Uint8Array(256 * 256 * 3).fill(120) }, width: 512, height: 512,
  method: 'nearest-exact', scheduler: 'simple', steps, denoise: 0.5, fixSteps: true, sampler: 'euler', cfgScale: 7, seed: 1, prompt: 'a cat', negativePrompt: '', clipSkip: 1,
};
await runImg2img(model, pool, { ...request, steps: 2 }, { tile: 96, overlap: 16 });
unetDurations.length = 0;
const stepTimes: number[] = [];
await runImg2img(model, pool, request, { tile: 96, overlap: 16 }, { onStep: () => void stepTimes.push(performance.now()) });
// Euler makes one UNet call per step: step k (k ≥ 2) runs between callbacks k−1 and k and holds call k−1.
let stepMs = 0;
let unetMs = 0;
for (let k = 1; k < steps; k++) {
  stepMs += stepTimes[k]! - stepTimes[k - 1]!;
  unetMs += unetDurations[k]!;
}
const perStep = stepMs / (steps - 1);
const perStepUnet = unetMs / (steps - 1);
console.log(`heavy UNet (128 ch, depth 4), 256² -> 512² (64×64 latent), ${steps} euler steps, cpu`);
console.log(`per step: ${perStep.toFixed(1)} ms, of which UNet ${perStepUnet.toFixed(1)} ms; pipeline overhead ${(perStep - perStepUnet).toFixed(2)} ms = ${(((perStep - perStepUnet) / perStep) * 100).toFixed(2)}%`);

// CFG: one batch-2 call against two batch-1 calls.
const feeds = (batch: number): Record<string, ort.Tensor> => ({
  sample: new ort.Tensor('float32', new Float32Array(batch * 4 * 64 * 64), [batch, 4, 64, 64]),
  timestep: new ort.Tensor('float32', new Float32Array(batch).fill(500), [batch]),
  encoder_hidden_states: new ort.Tensor('float32', new Float32Array(batch * 77 * 64), [batch, 77, 64]),
});
const time = async (run: () => Promise<unknown>): Promise<number> => {
  await run();
  const start = performance.now();
  for (let i = 0; i < 5; i++) await run();
  return (performance.now() - start) / 5;
};
const batched = await time(() => originalRun(feeds(2)));
const separate = await time(async () => {
  await originalRun(feeds(1));
  await originalRun(feeds(1));
});
console.log(`CFG: batch 2 ${batched.toFixed(1)} ms vs two batch-1 calls ${separate.toFixed(1)} ms (ratio ${(separate / batched).toFixed(2)})`);
await pool.release();

// Peak RSS in a fresh process per configuration (light model: the VAE dominates memory at these sizes).
const self = fileURLToPath(import.meta.url);
for (const side of [1024, 2048]) {
  for (const [label, tile] of [['untiled', 4096], ['tiled 96', 96]] as const) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', self, 'rss', light, String(side), String(tile)], { encoding: 'utf8' });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    const rss = child.status === 0 ? `${(JSON.parse(line) as { maxRssMb: number }).maxRssMb.toFixed(0)} MB` : `failed: ${child.stderr.slice(-200)}`;
    console.log(`peak RSS ${side}² output, ${label}: ${rss}`);
  }
}
