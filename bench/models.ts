// bench/models: full-size SD 1.5 and SDXL architectures with random weights (written here by
// make-test-checkpoint, never downloaded): checkpoint conversion time and peak memory, UNet time per
// sampling step on the CPU (one CFG batch of 2) at 64×64 and 128×128 latents, and the time and peak RSS
// of a whole 2× latent upscale with the tiled VAE. Every phase runs in its own child process, so each
// peak RSS belongs to that phase alone. Files are kept in BENCH_DIR and reused by later runs.
//
//   BENCH_FAMILIES=sd1,sdxl  BENCH_LATENTS=64,128  BENCH_UPSCALE_INPUT=512  BENCH_DIR=/tmp/latent-upscale-bench
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { convertCheckpoint } from '../src/convert/convert.js';
import type { FamilyName } from '../src/models/families.js';
import { TEST_ARCHITECTURES, writeTestCheckpoint } from '../src/convert/test-checkpoint.js';
import { SessionPool } from '../src/engine/session-pool.js';
import { loadModel } from '../src/models/loader.js';
import { runImg2img } from '../src/pipeline/img2img.js';

interface PhaseResult {
  readonly seconds: number;
  readonly peakRssGb: number;
  readonly detail?: string;
}

const finish = (started: number, detail?: string): PhaseResult => ({
  seconds: (performance.now() - started) / 1000,
  peakRssGb: (process.resourceUsage().maxRSS * 1024) / 1e9,
  ...(detail === undefined ? {} : { detail }),
});

/** One phase, in a child process. */
const PHASES: Record<string, (args: string[]) => Promise<PhaseResult>> = {
  async make([family, path]) {
    const started = performance.now();
    const { bytes } = writeTestCheckpoint(path!, { family: family as FamilyName, size: 'full', precision: 'fp16', seed: 1 });
    return finish(started, `${(bytes / 1e9).toFixed(2)} GB checkpoint`);
  },
  async convert([path, out]) {
    const started = performance.now();
    const summary = await convertCheckpoint(path!, out!, { precision: 'fp16' });
    return finish(started, `${(summary.bytes / 1e9).toFixed(2)} GB of weights`);
  },
  async unet([out, side, admWidth]) {
    const loadStarted = performance.now();
    const session = await ort.InferenceSession.create(join(out!, 'unet', 'model.onnx'), { graphOptimizationLevel: 'all' });
    const load = (performance.now() - loadStarted) / 1000;
    const n = Number(side);
    const contextWidth = Number((session.inputMetadata.find((m) => m.name === 'encoder_hidden_states') as { shape: readonly (string | number)[] }).shape[2]);
    const feeds: Record<string, ort.Tensor> = {
      sample: new ort.Tensor('float32', new Float32Array(2 * 4 * n * n).fill(0.1), [2, 4, n, n]),
      timestep: new ort.Tensor('float32', Float32Array.from([500, 500]), [2]),
      encoder_hidden_states: new ort.Tensor('float32', new Float32Array(2 * 77 * contextWidth).fill(0.01), [2, 77, contextWidth]),
    };
    if (Number(admWidth) > 0) {
      feeds['text_embeds'] = new ort.Tensor('float32', new Float32Array(2 * (Number(admWidth) - 1536)).fill(0.01), [2, Number(admWidth) - 1536]);
      feeds['time_ids'] = new ort.Tensor('float32', Float32Array.from([1024, 1024, 0, 0, 1024, 1024, 1024, 1024, 0, 0, 1024, 1024]), [2, 6]);
    }
    const started = performance.now();
    await session.run(feeds);
    return finish(started, `session created in ${load.toFixed(1)} s`);
  },
  async upscale([out, input]) {
    const pool = new SessionPool();
    const model = await loadModel(out!, 'bench', pool);
    const side = Number(input);
    const pixels = Uint8Array.from({ length: side * side * 3 }, (_, i) => (i * 37) % 251);
    const started = performance.now();
    await runImg2img(model, pool, {
      image: { width: side, height: side, pixels }, width: 2 * side, height: 2 * side, method: 'nearest-exact', scheduler: 'karras',
      steps: 1, denoise: 0.35, fixSteps: true, sampler: 'euler', cfgScale: 7, seed: 1, prompt: 'a photograph', negativePrompt: '', clipSkip: 1,
    }, { tile: 64, overlap: 16 });
    return finish(started, `${side}² → ${2 * side}², one sampling step, VAE tiles of 64 latent cells`);
  },
};

const [phase, ...phaseArgs] = process.argv.slice(2);
if (phase !== undefined) {
  process.stdout.write(JSON.stringify(await PHASES[phase]!(phaseArgs)));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
function child(...args: string[]): PhaseResult | string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', self, ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) return `failed (${result.signal ?? `exit ${result.status}`}): ${result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  return JSON.parse(result.stdout) as PhaseResult;
}
const show = (what: string, result: PhaseResult | string): void => {
  console.log(typeof result === 'string'
    ? `${what.padEnd(34)} ${result}`
    : `${what.padEnd(34)} ${result.seconds.toFixed(1).padStart(7)} s   peak RSS ${result.peakRssGb.toFixed(2).padStart(6)} GB   ${result.detail ?? ''}`);
};

const families = (process.env['BENCH_FAMILIES'] ?? 'sd1,sdxl').split(',') as FamilyName[];
const latents = (process.env['BENCH_LATENTS'] ?? '64,128').split(',');
const upscaleInput = process.env['BENCH_UPSCALE_INPUT'] ?? '512';
const root = process.env['BENCH_DIR'] ?? join(tmpdir(), 'latent-upscale-bench');
mkdirSync(root, { recursive: true });
console.log(`bench/models on ${ort.env.versions.common ? `onnxruntime ${ort.env.versions.common}` : 'onnxruntime'}, CPU provider, files in ${root}`);
for (const family of families) {
  const checkpoint = join(root, `${family}-full-fp16.safetensors`);
  const folder = join(root, `${family}-full`);
  if (!existsSync(checkpoint)) show(`${family}: make-test-checkpoint (full)`, child('make', family, checkpoint));
  if (!existsSync(folder)) show(`${family}: convert-checkpoint --precision fp16`, child('convert', checkpoint, folder));
  const admWidth = String(TEST_ARCHITECTURES[family].full.unet.admWidth ?? 0);
  for (const side of latents) show(`${family}: UNet step, latent ${side}×${side}, batch 2`, child('unet', folder, side, admWidth));
  show(`${family}: 2× upscale of ${upscaleInput}², 1 step`, child('upscale', folder, upscaleInput));
}
