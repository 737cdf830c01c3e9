// bench/service: what the service adds over calling A1111 directly, for a 512² photo-like PNG (~0.44 MB)
// upscaled to 1024² (~1.8 MB back). The fake A1111 runs in its own process and answers from a cache, and
// the service runs in its own process (src/server.ts, as `npm start` runs it); this process is only the
// client. Sequential requests give p50/p99 for direct calls, JSON bodies and multipart bodies; then 8
// concurrent clients give requests/s, first with generation taking no time, then with 4 steps of
// BENCH_STEP_MS (50) as a GPU would take, each also for a service with A1111_QUEUE_DEPTH=2; the service's
// own event-loop delay (monitorEventLoopDelay, read from its /metrics, which resets it on each read) and
// each process's CPU time per request (/proc) are reported per phase. On a 2-core machine the processes share the cores, so CPU time is added latency.
import { request } from 'undici';
import { fileURLToPath } from 'node:url';
import { launch, startFakeA1111Process, startServiceProcess, stopProcess } from '../test/helpers/processes.js';
import { multipartBody } from '../test/helpers/service.js';
import { photoLikePng } from '../test/fakes/photo.js';
import { cpuSeconds } from './cpu.js';
import { percentile } from './statistics.js';

const SEQUENTIAL = Number(process.env['BENCH_REQUESTS'] ?? 100);
const CONCURRENCY = 8;
const CONCURRENT_REQUESTS = Number(process.env['BENCH_CONCURRENT_REQUESTS'] ?? 160);
const STEPS = 4;
/** The step time of the last phase, where A1111's generation takes time as it does on a GPU (4 steps of 50 ms). */
const TIMED_STEP_MS = Number(process.env['BENCH_STEP_MS'] ?? 50);
const TIMED_REQUESTS = 48;
/** Unmeasured requests first, so that every process has compiled its hot paths. */
const WARMUP = 20;

const fake = await startFakeA1111Process({ companion: true, stepDelayMs: 0, photo: true });
const service = await startServiceProcess({ A1111_URLS: fake.url });
// The same with the next job sent to wait at A1111's queue; it polls /progress every 50 ms to see the job
// ahead generating (with a real A1111's jobs of seconds, the default 500 ms does as well).
const queueing = await startServiceProcess({ A1111_URLS: fake.url, A1111_QUEUE_DEPTH: '2', PROGRESS_INTERVAL_MS: '50' });
// The floor: the byte work any service in front of A1111 must do, and nothing else (bench/minimal-proxy.ts).
const minimal = await launch('minimal proxy', process.execPath, ['--import', 'tsx', fileURLToPath(new URL('minimal-proxy.ts', import.meta.url)), fake.url], /listening on (http:\/\/\S+)/, 30_000);
const minimalUrl = minimal.ready[1]!;

const png = await photoLikePng(512, 512, 7);
const image = Buffer.from(png).toString('base64');
const directBody = JSON.stringify({
  init_images: [image], resize_mode: 3, width: 1024, height: 1024, denoising_strength: 0.5, steps: STEPS, cfg_scale: 7, seed: 1,
  sampler_name: 'Euler', prompt: '', negative_prompt: '', send_images: true, save_images: false,
  override_settings: { img2img_fix_steps: true, samples_format: 'png' }, override_settings_restore_afterwards: true,
  alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'nearest-exact', 'simple'] } },
});
const fields = { scale: '2', steps: String(STEPS), seed: '1' };
const jsonBody = JSON.stringify({ image, ...fields, scale: 2, steps: STEPS, seed: 1 });
const multipart = multipartBody(png, fields);

async function call(url: string, body: string | Buffer, headers: Record<string, string>): Promise<number> {
  const response = await request(url, { method: 'POST', body, headers });
  const bytes = (await response.body.arrayBuffer()).byteLength;
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`);
  return bytes;
}
const json = { 'content-type': 'application/json' };
const runs = {
  direct: () => call(`${fake.url}/sdapi/v1/img2img`, directBody, json),
  'minimal proxy': () => call(minimalUrl, jsonBody, json),
  'service, JSON body': () => call(`${service.url}/upscale`, jsonBody, json),
  'service, multipart body': () => call(`${service.url}/upscale`, multipart.payload, multipart.headers),
  'service, A1111_QUEUE_DEPTH=2': () => call(`${queueing.url}/upscale`, jsonBody, json),
};

async function latencies(run: () => Promise<number>): Promise<{ p50: number; p99: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < WARMUP; i++) bytes = await run();
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), bytes };
}

async function throughput(run: () => Promise<number>, requests = CONCURRENT_REQUESTS): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < requests) await run();
  }));
  return requests / ((performance.now() - start) / 1000);
}

/** The service's event-loop delay p99 and max (ms) since the last read; idle, they sit at the 10 ms sampling interval. */
async function eventLoopDelay(): Promise<{ p99: number; max: number }> {
  const text = await (await request(`${service.url}/metrics`)).body.text();
  const read = (name: string): number => Number(new RegExp(`^latent_upscale_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1]) * 1000;
  return { p99: read('p99'), max: read('max') };
}

/** CPU ms a request of the process in the middle (service or minimal proxy) and of the fake, over `run`. */
async function cpuPerRequest<T>(middle: number | undefined, requests: number, run: () => Promise<T>): Promise<{ result: T; cpu: string }> {
  const before = [cpuSeconds(middle), cpuSeconds(fake.child.pid)];
  const result = await run();
  const after = [cpuSeconds(middle), cpuSeconds(fake.child.pid)];
  const per = (i: number): string => (before[i] === undefined || after[i] === undefined ? 'n/a' : (((after[i]! - before[i]!) * 1000) / requests).toFixed(1));
  return { result, cpu: `CPU ms a request: ${per(0)} here, ${per(1)} in the fake` };
}

/** Runs a service phase of `requests` calls; the service's event-loop delay and the CPU time meanwhile. */
async function phase<T>(requests: number, run: () => Promise<T>): Promise<{ result: T; delay: string }> {
  await eventLoopDelay();
  const { result, cpu } = await cpuPerRequest(service.child.pid, requests, run);
  const delay = await eventLoopDelay();
  return { result, delay: `event-loop delay p99 / max ${delay.p99.toFixed(1)} / ${delay.max.toFixed(1)} ms; ${cpu}` };
}

try {
  console.log(`512² photo-like PNG (${(png.length / 1e6).toFixed(2)} MB) -> 1024², ${SEQUENTIAL} sequential requests, then ${CONCURRENT_REQUESTS} at concurrency ${CONCURRENCY}`);
  await eventLoopDelay();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idle = await eventLoopDelay();
  console.log(`service idle for 2 s: event-loop delay p99 / max ${idle.p99.toFixed(1)} / ${idle.max.toFixed(1)} ms`);
  console.log(['', 'p50 ms', 'p99 ms', 'added p50', 'added p99', 'answer MB', ''].join('\t'));
  const { result: direct, cpu: directCpu } = await cpuPerRequest(undefined, SEQUENTIAL + WARMUP, () => latencies(runs.direct));
  console.log(['direct A1111', direct.p50.toFixed(1), direct.p99.toFixed(1), '', '', (direct.bytes / 1e6).toFixed(2), directCpu.replace('n/a here, ', '')].join('\t'));
  const { result: floor, cpu: floorCpu } = await cpuPerRequest(minimal.child.pid, SEQUENTIAL + WARMUP, () => latencies(runs['minimal proxy']));
  console.log(['minimal proxy', floor.p50.toFixed(1), floor.p99.toFixed(1), `+${(floor.p50 - direct.p50).toFixed(1)}`, `+${(floor.p99 - direct.p99).toFixed(1)}`, (floor.bytes / 1e6).toFixed(2), `(parse, base64 both ways, nothing else) ${floorCpu}`].join('\t'));
  for (const label of ['service, JSON body', 'service, multipart body'] as const) {
    const { result, delay } = await phase(SEQUENTIAL + WARMUP, () => latencies(runs[label]));
    console.log([label, result.p50.toFixed(1), result.p99.toFixed(1), `+${(result.p50 - direct.p50).toFixed(1)}`, `+${(result.p99 - direct.p99).toFixed(1)}`,
      (result.bytes / 1e6).toFixed(2), delay].join('\t'));
  }
  const directRate = await throughput(runs.direct);
  const floorRate = await throughput(runs['minimal proxy']);
  const { result: serviceRate, delay } = await phase(CONCURRENT_REQUESTS, () => throughput(runs['service, JSON body']));
  const queueingRate = await throughput(runs['service, A1111_QUEUE_DEPTH=2']);
  console.log(`requests/s at concurrency ${CONCURRENCY}: direct ${directRate.toFixed(1)}, minimal proxy ${floorRate.toFixed(1)} (${(floorRate / directRate).toFixed(2)}×), service ${serviceRate.toFixed(1)} (${(serviceRate / directRate).toFixed(2)}×), with A1111_QUEUE_DEPTH=2 ${queueingRate.toFixed(1)} (${(queueingRate / directRate).toFixed(2)}×); service ${delay}`);
  // A1111 generates one job at a time, so with generation taking time requests/s is bounded by it; what
  // the service can lose is the gap between one job's end and the next one's start at the instance.
  await fake.setBehaviour({ stepDelayMs: TIMED_STEP_MS });
  const timedDirect = await throughput(runs.direct, TIMED_REQUESTS);
  const timedService = await throughput(runs['service, JSON body'], TIMED_REQUESTS);
  const timedQueueing = await throughput(runs['service, A1111_QUEUE_DEPTH=2'], TIMED_REQUESTS);
  const bound = 1000 / (STEPS * TIMED_STEP_MS);
  console.log(`same, with ${STEPS} steps of ${TIMED_STEP_MS} ms (at most ${bound.toFixed(1)} requests/s): direct ${timedDirect.toFixed(2)}, service ${timedService.toFixed(2)} (${(timedService / timedDirect).toFixed(3)}×), with A1111_QUEUE_DEPTH=2 ${timedQueueing.toFixed(2)} (${(timedQueueing / timedDirect).toFixed(3)}×)`);
} finally {
  await stopProcess(minimal);
  await service.stop();
  await queueing.stop();
  await fake.kill();
}
