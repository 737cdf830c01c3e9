// bench/responsiveness: /healthz latency while the onnx backend runs 512² → 1024² jobs (BENCH_INPUT=1024:
// 1024² → 2048²) in the service's
// own process (src/server.ts on a generated test model, whose small UNet makes the pipeline's own
// element-wise work weigh as much as it can). /healthz is asked every 20 ms, first with the service idle,
// then while jobs run back to back; p50/p99/max of each, against the goal of p99 ≤ 50 ms.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { writeTestModel } from '../src/models/test-model.js';
import { photoLikePng } from '../test/fakes/photo.js';
import { startServiceProcess } from '../test/helpers/processes.js';
import { percentile } from './statistics.js';

const JOBS = Number(process.env['BENCH_JOBS'] ?? 4);
/** The input side; the output is twice that. */
const INPUT = Number(process.env['BENCH_INPUT'] ?? 512);
const root = await mkdtemp(join(tmpdir(), 'latent-upscale-bench-'));
await writeTestModel(join(root, 'tiny'), {});
const service = await startServiceProcess({ BACKENDS: 'onnx', MODELS_DIR: root });

async function probeWhile(busy: () => boolean): Promise<number[]> {
  const times: number[] = [];
  while (busy()) {
    const start = performance.now();
    await (await request(`${service.url}/healthz`)).body.arrayBuffer();
    times.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return times;
}

const summary = (times: number[]): string => `p50 ${percentile(times, 0.5).toFixed(1)} ms, p99 ${percentile(times, 0.99).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms (${times.length} probes)`;

try {
  const idleUntil = Date.now() + 3000;
  console.log(`idle: ${summary(await probeWhile(() => Date.now() < idleUntil))}`);
  const image = Buffer.from(await photoLikePng(INPUT, INPUT, 11)).toString('base64');
  let running = true;
  let seconds = 0;
  const jobs = (async () => {
    const start = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const response = await request(`${service.url}/upscale`, { method: 'POST', body: JSON.stringify({ image, scale: 2, steps: 8, seed: i }), headers: { 'content-type': 'application/json' } });
      const answer = Buffer.from(await response.body.arrayBuffer());
      if (response.statusCode !== 200) throw new Error(`/upscale answered ${response.statusCode}: ${answer.toString('utf8', 0, 300)}`);
    }
    seconds = (performance.now() - start) / 1000;
    running = false;
  })();
  const busy = await probeWhile(() => running);
  await jobs;
  console.log(`during ${JOBS} jobs of ${INPUT}² -> ${2 * INPUT}² (${(image.length * 0.75 / 1e6).toFixed(2)} MB in), 8 steps (${(seconds / JOBS).toFixed(1)} s each): ${summary(busy)}; goal p99 <= 50 ms`);
} finally {
  await service.stop();
  await rm(root, { recursive: true, force: true });
}
