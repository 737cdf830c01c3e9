// bench/service: what the service adds over calling A1111 directly, for a 512² photo-like PNG (~0.44 MB)
// upscaled to 1024² (~1.8 MB back). The fake A1111 runs in its own process and answers from a cache, and
// the service runs in its own process (src/server.ts, as `npm start` runs it); this process is only the
// client. Sequential requests give p50/p99 for direct calls, the reference proxies (bench/minimal-proxy.ts),
// JSON bodies and multipart bodies, with the p50 of each stage of the service's Server-Timing; then 8
// concurrent clients give requests/s, first with generation taking no time, then with 4 steps of
// BENCH_STEP_MS (50) as a GPU would take, each also for a service with A1111_QUEUE_DEPTH=2. The
// variants take turns in rounds, so that a change in what else the machine runs (its neighbours) weighs
// on all of them alike and not on whichever phase it fell in. The service's own event-loop delay
// (monitorEventLoopDelay, read from its /metrics, which resets it on each read) and each process's CPU
// time per request (/proc) are reported. On a 2-core machine the processes share the cores, so CPU time
// is added latency.
import { request } from 'undici';
import { fileURLToPath } from 'node:url';
import { launch, startFakeA1111Process, startServiceProcess, stopProcess, type Launched } from '../test/helpers/processes.js';
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
const TIMED_REQUESTS = 64;
/** Unmeasured requests first, so that every process has compiled its hot paths. */
const WARMUP = 20;

const fake = await startFakeA1111Process({ companion: true, stepDelayMs: 0, photo: true });
const service = await startServiceProcess({ A1111_URLS: fake.url });
// The same with the next job sent to wait at A1111's queue; it polls /progress every 50 ms to see the job
// ahead generating (with a real A1111's jobs of seconds, the default 500 ms does as well).
const queueing = await startServiceProcess({ A1111_URLS: fake.url, A1111_QUEUE_DEPTH: '2', PROGRESS_INTERVAL_MS: '50' });
// The floors (bench/minimal-proxy.ts): the hop alone, and the byte work any upscale proxy must do, answering
// as A1111's reply comes or once it has all come.
const proxyModes = ['pipe', 'stream', 'whole'] as const;
const proxies = Object.fromEntries(await Promise.all(proxyModes.map(async (mode) => [mode,
  await launch(`${mode} proxy`, process.execPath, ['--import', 'tsx', fileURLToPath(new URL('minimal-proxy.ts', import.meta.url)), mode, fake.url], /listening on (http:\/\/\S+)/, 30_000)]))) as Record<(typeof proxyModes)[number], Launched>;

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

interface Answer {
  readonly bytes: number;
  /** The service's Server-Timing stages (ms by name); empty from the others. */
  readonly stages: ReadonlyMap<string, number>;
}

async function call(url: string, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
  const response = await request(url, { method: 'POST', body, headers });
  const bytes = (await response.body.arrayBuffer()).byteLength;
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`);
  const timing = String(response.headers['server-timing'] ?? '');
  return { bytes, stages: new Map([...timing.matchAll(/(\w+);dur=([\d.]+)/g)].map(([, name, ms]) => [name!, Number(ms)])) };
}
const json = { 'content-type': 'application/json' };
const runs = {
  direct: () => call(`${fake.url}/sdapi/v1/img2img`, directBody, json),
  'pipe proxy (the hop alone)': () => call(proxies.pipe.ready[1]!, directBody, json),
  'bare proxy, stream': () => call(proxies.stream.ready[1]!, jsonBody, json),
  'bare proxy, whole': () => call(proxies.whole.ready[1]!, jsonBody, json),
  'service, JSON body': () => call(`${service.url}/upscale`, jsonBody, json),
  'service, multipart body': () => call(`${service.url}/upscale`, multipart.payload, multipart.headers),
  'service, A1111_QUEUE_DEPTH=2': () => call(`${queueing.url}/upscale`, jsonBody, json),
};

/** Rounds the variants take turns in (each round: a share of every variant's requests, in turn). */
const ROUNDS = 4;
/** Requests a variant gets in each round when it is to get `requests` in all (rounded up to whole rounds). */
const perRound = (requests: number): number => Math.ceil(requests / ROUNDS);

type Variant = keyof typeof runs;

/** Sequential requests, `SEQUENTIAL` per variant in ROUNDS turns after a warm-up: each one's p50 and p99 ms. */
async function latencies(variants: readonly Variant[]): Promise<Map<Variant, { p50: number; p99: number; bytes: number; stages: string }>> {
  const times = new Map(variants.map((variant) => [variant, [] as number[]]));
  const stages = new Map(variants.map((variant) => [variant, new Map<string, number[]>()]));
  const bytes = new Map<Variant, number>();
  for (const variant of variants) for (let i = 0; i < WARMUP; i++) bytes.set(variant, (await runs[variant]()).bytes);
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      for (let i = 0; i < perRound(SEQUENTIAL); i++) {
        const start = performance.now();
        const answer = await runs[variant]();
        times.get(variant)!.push(performance.now() - start);
        for (const [name, ms] of answer.stages) {
          const samples = stages.get(variant)!;
          if (!samples.has(name)) samples.set(name, []);
          samples.get(name)!.push(ms);
        }
      }
    }
  }
  const stageMedians = (variant: Variant): string => [...stages.get(variant)!].map(([name, ms]) => `${name} ${percentile(ms, 0.5).toFixed(1)}`).join(', ');
  return new Map(variants.map((variant) => [variant, { p50: percentile(times.get(variant)!, 0.5), p99: percentile(times.get(variant)!, 0.99), bytes: bytes.get(variant)!, stages: stageMedians(variant) }]));
}

/** `requests` calls per variant at concurrency 8, in ROUNDS turns: each one's requests/s over its own time. */
async function throughputs(variants: readonly Variant[], requests: number): Promise<Map<Variant, number>> {
  const seconds = new Map(variants.map((variant) => [variant, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      let next = 0;
      const start = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < perRound(requests)) await runs[variant]();
      }));
      seconds.set(variant, seconds.get(variant)! + (performance.now() - start) / 1000);
    }
  }
  return new Map(variants.map((variant) => [variant, (perRound(requests) * ROUNDS) / seconds.get(variant)!]));
}

/** The service's event-loop delay p99 and max (ms) since the last read; idle, they sit at the 10 ms sampling interval. */
async function eventLoopDelay(): Promise<{ p99: number; max: number }> {
  const text = await (await request(`${service.url}/metrics`)).body.text();
  const read = (name: string): number => Number(new RegExp(`^latent_upscale_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1]) * 1000;
  return { p99: read('p99'), max: read('max') };
}

/** CPU seconds so far of the service, the bare proxy and the fake. */
function cpuNow(): number[] {
  return [service.child.pid, proxies.whole.child.pid, fake.child.pid].map((pid) => cpuSeconds(pid) ?? Number.NaN);
}

/** CPU ms a request of the service, the bare proxy and the fake between two cpuNow() readings. */
function cpuPerRequest(before: number[], after: number[], requests: { service: number; proxy: number; fake: number }): string {
  const per = (i: number, count: number): string => (((after[i]! - before[i]!) * 1000) / count).toFixed(1);
  return `CPU ms a request: service ${per(0, requests.service)}, bare proxy (whole) ${per(1, requests.proxy)}, fake ${per(2, requests.fake)}`;
}

try {
  console.log(`512² photo-like PNG (${(png.length / 1e6).toFixed(2)} MB) -> 1024², ${SEQUENTIAL} sequential requests per variant, then ${CONCURRENT_REQUESTS} at concurrency ${CONCURRENCY}, each in ${ROUNDS} rounds taking turns`);
  await eventLoopDelay();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idle = await eventLoopDelay();
  console.log(`service idle for 2 s: event-loop delay p99 / max ${idle.p99.toFixed(1)} / ${idle.max.toFixed(1)} ms`);
  const sequential: Variant[] = ['direct', 'pipe proxy (the hop alone)', 'bare proxy, stream', 'bare proxy, whole', 'service, JSON body', 'service, multipart body'];
  const cpuBefore = cpuNow();
  const latency = await latencies(sequential);
  const each = perRound(SEQUENTIAL) * ROUNDS + WARMUP;
  const cpu = cpuPerRequest(cpuBefore, cpuNow(), { service: 2 * each, proxy: each, fake: sequential.length * each });
  const delay = await eventLoopDelay();
  const direct = latency.get('direct')!;
  console.log(['', 'p50 ms', 'p99 ms', 'added p50', 'added p99', 'answer MB', 'Server-Timing p50 ms'].join('\t'));
  for (const [variant, result] of latency) {
    const signed = (ms: number): string => `${ms >= 0 ? '+' : ''}${ms.toFixed(1)}`;
    const added = variant === 'direct' ? ['', ''] : [signed(result.p50 - direct.p50), signed(result.p99 - direct.p99)];
    console.log([variant, result.p50.toFixed(1), result.p99.toFixed(1), ...added, (result.bytes / 1e6).toFixed(2), result.stages].join('\t'));
  }
  console.log(`sequential: service event-loop delay p99 / max ${delay.p99.toFixed(1)} / ${delay.max.toFixed(1)} ms; ${cpu}`);
  const concurrent: Variant[] = ['direct', 'bare proxy, whole', 'service, JSON body', 'service, A1111_QUEUE_DEPTH=2'];
  const rates = await throughputs(concurrent, CONCURRENT_REQUESTS);
  const directRate = rates.get('direct')!;
  console.log(`requests/s at concurrency ${CONCURRENCY}: ${concurrent.map((variant) => `${variant} ${rates.get(variant)!.toFixed(1)}${variant === 'direct' ? '' : ` (${(rates.get(variant)! / directRate).toFixed(2)}×)`}`).join(', ')}`);
  // A1111 generates one job at a time, so with generation taking time requests/s is bounded by it; what
  // the service can lose is the gap between one job's end and the next one's start at the instance.
  await fake.setBehaviour({ stepDelayMs: TIMED_STEP_MS });
  const timed: Variant[] = ['direct', 'service, JSON body', 'service, A1111_QUEUE_DEPTH=2'];
  const timedRates = await throughputs(timed, TIMED_REQUESTS);
  const bound = 1000 / (STEPS * TIMED_STEP_MS);
  console.log(`same, with ${STEPS} steps of ${TIMED_STEP_MS} ms (at most ${bound.toFixed(1)} requests/s): ${timed.map((variant) => `${variant} ${timedRates.get(variant)!.toFixed(2)}${variant === 'direct' ? '' : ` (${(timedRates.get(variant)! / timedRates.get('direct')!).toFixed(3)}×)`}`).join(', ')}`);
} finally {
  for (const proxy of Object.values(proxies)) await stopProcess(proxy);
  await service.stop();
  await queueing.stop();
  await fake.kill();
}
