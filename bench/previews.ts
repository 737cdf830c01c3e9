// bench/previews: what live previews cost a native job. The heavy generated model (a UNet that makes a
// step cost real work, as bench/pipeline.ts uses), 256² → 512², 10 euler steps, run with previews off,
// cheap every step and full every 5 steps, alternating, each preview JPEG-encoded as the pipeline
// thread does. Prints medians and the ratio to "off" (goal for cheap: ≤ 1.05).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PreviewRequest } from '../src/backends/backend.js';
import { SessionPool } from '../src/engine/session-pool.js';
import { encodePreview } from '../src/images/encode.js';
import { loadModel } from '../src/models/loader.js';
import { writeTestModel } from '../src/models/test-model.js';
import { runImg2img } from '../src/pipeline/img2img.js';
import { percentile } from './statistics.js';

const ROUNDS = Number(process.env['BENCH_REPEATS'] ?? 5);
const root = await mkdtemp(join(tmpdir(), 'bench-previews-'));
try {
  await writeTestModel(join(root, 'heavy'), { unetChannels: 128, unetDepth: 4, hiddenSize: 64 });
  const pool = new SessionPool();
  const model = await loadModel(join(root, 'heavy'), 'heavy', pool);
  const request = {
    image: { width: 256, height: 256, pixels: new Uint8Array(256 * 256 * 3).fill(120) }, width: 512, height: 512,
    method: 'nearest-exact', scheduler: 'simple', steps: 10, denoise: 0.5, fixSteps: true, sampler: 'euler', cfgScale: 7, seed: 1, prompt: 'a cat', negativePrompt: '', clipSkip: 1,
  };
  const modes: Record<string, PreviewRequest> = { off: { mode: 'off', every: 1 }, 'cheap, every step': { mode: 'cheap', every: 1 }, 'full, every 5 steps': { mode: 'full', every: 5 } };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((label) => [label, []]));
  let previewBytes = 0;
  const job = (preview: PreviewRequest): Promise<unknown> => runImg2img(model, pool, { ...request, preview }, { tile: 96, overlap: 16 }, {
    onPreview: async (_step, _steps, image) => void (previewBytes = (await encodePreview(image.width, image.height, image.pixels)).length),
  });
  await job(modes['off']!);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, preview] of Object.entries(modes)) {
      const start = performance.now();
      await job(preview);
      times[label]!.push(performance.now() - start);
    }
  }
  const off = percentile(times['off']!, 0.5);
  console.log(`heavy UNet (128 ch, depth 4), 256² -> 512², 10 euler steps, cpu; median of ${ROUNDS} alternating rounds`);
  for (const [label, samples] of Object.entries(times)) {
    const median = percentile(samples, 0.5);
    console.log(`${label}: ${median.toFixed(0)} ms (${(median / off).toFixed(3)}× off)`);
  }
  console.log(`last preview: ${previewBytes} bytes`);
  await pool.release();
} finally {
  await rm(root, { recursive: true, force: true });
}
