// bench/service: the latency the service adds over calling a (fake) A1111 directly, for a 512×512 input
// upscaled 2x. Sequential requests give p50/p99; then 8 concurrent clients give requests/s. The fake
// samples instantly, so the numbers are the service's own overhead plus the fake's PNG encoding.
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { encodeRgbPng } from '../src/images/png.js';
import { FakeA1111 } from '../test/fakes/fake-a1111.js';

const SEQUENTIAL = Number(process.env['BENCH_REQUESTS'] ?? 100);
const CONCURRENCY = 8;
const CONCURRENT_REQUESTS = Number(process.env['BENCH_CONCURRENT_REQUESTS'] ?? 160);

const fake = await new FakeA1111({ companion: true, stepDelayMs: 0 }).start();
const app = await buildApp(loadConfig({ A1111_URLS: fake.url, LOG_LEVEL: 'silent' }), { logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const serviceUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

const image = Buffer.from(encodeRgbPng(512, 512, (x, y) => [x % 256, y % 256, (x + y) % 256])).toString('base64');
const steps = 4;
const directBody = JSON.stringify({
  init_images: [image], resize_mode: 3, width: 1024, height: 1024, denoising_strength: 0.5, steps, cfg_scale: 7, seed: 1,
  sampler_name: 'Euler', prompt: '', negative_prompt: '', send_images: true, save_images: false,
  override_settings: { img2img_fix_steps: true, samples_format: 'png' }, override_settings_restore_afterwards: true,
  alwayson_scripts: { 'Latent Upscale Companion': { args: [true, 'nearest-exact', 'simple'] } },
});
const serviceBody = JSON.stringify({ image, scale: 2, steps, seed: 1 });

async function call(url: string, body: string): Promise<void> {
  const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await response.body.arrayBuffer();
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`);
}
const direct = (): Promise<void> => call(`${fake.url}/sdapi/v1/img2img`, directBody);
const service = (): Promise<void> => call(`${serviceUrl}/upscale`, serviceBody);

async function latencies(run: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 5; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]! };
}

async function throughput(run: () => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < CONCURRENT_REQUESTS) await run();
  }));
  return CONCURRENT_REQUESTS / ((performance.now() - start) / 1000);
}

const a = await latencies(direct);
const b = await latencies(service);
const ta = await throughput(direct);
const tb = await throughput(service);
console.log(`512x512 -> 1024x1024, ${SEQUENTIAL} sequential requests, then ${CONCURRENT_REQUESTS} at concurrency ${CONCURRENCY}`);
console.log(['', 'direct A1111', 'through service', 'added', 'ratio'].join('\t'));
console.log(['p50 ms', a.p50.toFixed(1), b.p50.toFixed(1), (b.p50 - a.p50).toFixed(1), (b.p50 / a.p50).toFixed(2)].join('\t'));
console.log(['p99 ms', a.p99.toFixed(1), b.p99.toFixed(1), (b.p99 - a.p99).toFixed(1), (b.p99 / a.p99).toFixed(2)].join('\t'));
console.log(['req/s @8', ta.toFixed(1), tb.toFixed(1), '', (tb / ta).toFixed(2)].join('\t'));
await app.close();
await fake.stop();
