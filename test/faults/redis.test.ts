import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { startFakeA1111Process, startWorkerProcess, type FakeA1111Process, type RunningProcess } from '../helpers/processes.js';
import { NATIVE_SAMPLER_NAMES } from '../../src/backends/onnx/rules.js';
import { modelsFolder } from '../helpers/models.js';
import { seededRandom } from '../helpers/random.js';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js';
import { pngBase64, readJob, submitJob, until } from '../helpers/service.js';
import { missingReference } from '../helpers/references.js';

// Fault injection in Redis mode, every part a real process: redis-server, fake A1111 servers, workers.
// The API node runs in this process (its own Redis connections, exactly as in `npm start`).

interface JobView { id: string; state: string; step: number; ran_on: string | null; queue_position: number | null; error: { status: number; message: string } | null }

const missing = missingReference(redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)');

const cleanups: (() => Promise<unknown>)[] = [];
t.teardown(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function redisServer(): Promise<RedisServer> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  return redis;
}

async function fake(options: Parameters<typeof startFakeA1111Process>[0] = {}): Promise<FakeA1111Process> {
  const started = await startFakeA1111Process({ companion: true, ...options });
  cleanups.push(() => started.kill('SIGKILL'));
  return started;
}

async function worker(redis: RedisServer, a1111: FakeA1111Process, env: Record<string, string> = {}): Promise<RunningProcess> {
  const started = await startWorkerProcess({
    REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: a1111.url, WORKER_LOCK_SECONDS: '3', PROGRESS_INTERVAL_MS: '50', HEALTH_CHECK_INTERVAL_SECONDS: '0.3', ...env,
  });
  cleanups.push(() => started.stop('SIGKILL'));
  return started;
}

async function apiNode(redis: RedisServer, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig({ REDIS_URL: redis.url, BACKENDS: 'a1111', LOG_LEVEL: 'silent', HEALTH_CHECK_INTERVAL_SECONDS: '0.3', REDIS_TIMEOUT_MS: '500', ...env }), { logger: false });
  await app.ready();
  cleanups.push(() => app.close());
  return app;
}

const view = (app: FastifyInstance, id: string): Promise<JobView> => readJob<JobView>(app, id);
const submit = (app: FastifyInstance, payload: Record<string, unknown>): Promise<JobView> => submitJob<JobView>(app, payload);
const ready = async (app: FastifyInstance): Promise<boolean> => (await app.inject({ url: '/readyz' })).statusCode === 200;

t.test('an instance dies mid-job: the job moves to another worker; a worker whose A1111 is dead takes no jobs, and all succeed', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const fakes = [await fake({ stepDelayMs: 15 }), await fake({ stepDelayMs: 15 })];
  await Promise.all(fakes.map((f) => worker(redis, f)));
  const api = await apiNode(redis);
  await until(() => ready(api), 20_000);

  const long = await submit(api, { steps: 100, seed: 1 });
  await until(async () => (await view(api, long.id)).step > 2, 20_000);
  const ranOn = (await view(api, long.id)).ran_on;
  const dying = fakes.find((f) => f.url === ranOn);
  t.ok(dying, `the job runs on one of the two instances (${ranOn})`);
  const survivor = fakes.find((f) => f !== dying)!;
  await dying!.kill('SIGKILL');
  await until(async () => (await view(api, long.id)).state === 'succeeded', 30_000);
  t.equal((await view(api, long.id)).ran_on, survivor.url, 'finished on the other worker\'s instance');

  const jobs = await Promise.all(Array.from({ length: 20 }, (_, i) => submit(api, { steps: 2, seed: 100 + i })));
  t.same(jobs.map((j) => j.state), Array(20).fill('queued'), 'all admitted: a live worker can run them');
  await until(async () => (await Promise.all(jobs.map((j) => view(api, j.id)))).every((v) => v.state === 'succeeded'), 60_000);
  const seeds = (await survivor.state()).seeds;
  t.ok(jobs.every((_j, i) => seeds.includes(100 + i)), 'the healthy worker ran all twenty');
  const readiness = (await api.inject({ url: '/readyz' })).json() as { ready: boolean; backends: { a1111: { units: { target: string; healthy: boolean; worker: string }[] } } };
  t.equal(readiness.ready, true, 'ready: one worker can run jobs');
  t.same(readiness.backends.a1111.units.map((u) => [u.target, u.healthy]).sort(), [[dying!.url, false], [survivor.url, true]].sort());
});

t.test('no live worker can run a job: refused at submit (503, or 422 for what no worker offers), and GET /models, /methods follow the workers', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const api = await apiNode(redis);
  const none = await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64() } });
  t.equal(none.statusCode, 503);
  t.match(none.json().message, /no A1111 instance is available \(none configured\)/);
  t.same(((await api.inject({ url: '/methods' })).json() as { backends: Record<string, string[]> }).backends, { a1111: [] });
  const stock = await fake({ companion: false });
  await worker(redis, stock);
  await until(() => ready(api), 20_000);
  t.same(((await api.inject({ url: '/methods' })).json() as { backends: Record<string, string[]> }).backends['a1111'], ['bilinear', 'linear', 'trilinear'], 'what the live worker\'s stock A1111 offers');
  const bicubic = await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), method: 'bicubic' } });
  t.equal(bicubic.statusCode, 422);
  t.match(bicubic.json().message, /method 'bicubic' needs the companion extension/);
});

t.test('GET /models and /samplers in Redis mode come from the onnx workers\' heartbeats', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const models = await modelsFolder(t, { tiny: {} });
  const onnx = await startWorkerProcess({ REDIS_URL: redis.url, BACKENDS: 'onnx', MODELS_DIR: models, ONNX_WARMUP: 'false', HEALTH_CHECK_INTERVAL_SECONDS: '0.3' });
  cleanups.push(() => onnx.stop('SIGKILL'));
  const api = await apiNode(redis, { BACKENDS: 'onnx', MODELS_DIR: models });
  await until(() => ready(api), 20_000);
  const listed = (await api.inject({ url: '/models' })).json() as { models: { name: string; provider: string }[] };
  t.same(listed.models.map((m) => [m.name, m.provider]), [['tiny', 'cpu']]);
  t.same(((await api.inject({ url: '/samplers' })).json() as { backends: Record<string, string[]> }).backends['onnx'], NATIVE_SAMPLER_NAMES);
  const unknown = await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), model: 'sdxl' } });
  t.equal(unknown.statusCode, 422);
  t.match(unknown.json().message, /unknown model 'sdxl' \(allowed: tiny\)/);
  const job = await submit(api, { steps: 2, seed: 4 });
  await until(async () => (await view(api, job.id)).state === 'succeeded', 30_000);
});

t.test('Redis frozen: fast 503 with Retry-After, /readyz 503, /metrics answers; recovery without restart; a job nobody got an id for never runs', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const a1111 = await fake();
  await worker(redis, a1111);
  const api = await apiNode(redis);
  await until(() => ready(api), 20_000);
  const before = await submit(api, { steps: 2, seed: 1 });
  await until(async () => (await view(api, before.id)).state === 'succeeded', 20_000);

  redis.freeze();
  const posted = await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 2, seed: 666 } });
  t.equal(posted.statusCode, 503, 'POST /jobs');
  t.equal(posted.headers['retry-after'], '5');
  t.match(posted.json().message, /Redis (did not answer within 500 ms|is unreachable)/);
  t.equal((await api.inject({ url: `/jobs/${before.id}` })).statusCode, 503, 'GET /jobs/:id');
  t.equal((await api.inject({ url: '/readyz' })).statusCode, 503, '/readyz');
  const metrics = await api.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 200, '/metrics');
  t.match(metrics.body, /latent_upscale_job_store_up 0/);
  redis.thaw();

  await until(() => ready(api), 20_000);
  const after = await submit(api, { steps: 2, seed: 777 });
  await until(async () => (await view(api, after.id)).state === 'succeeded', 20_000);
  t.same((await a1111.state()).seeds, [1, 777], 'the job refused while Redis was frozen never ran');
});

t.test('Redis restarted without persistence: lost jobs are 404, followers are told, workers survive and take new jobs', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const a1111 = await fake({ stepDelayMs: 20 });
  const workerProcess = await worker(redis, a1111);
  const api = await apiNode(redis);
  await until(() => ready(api), 20_000);
  // One after the other, so the first runs and the other two wait behind it (concurrent submits may land in any order).
  const jobs: JobView[] = [];
  for (const seed of [1, 2, 3]) jobs.push(await submit(api, { steps: 300, seed }));
  await until(async () => (await view(api, jobs[0]!.id)).step > 1, 20_000);
  const address = await api.listen({ port: 0, host: '127.0.0.1' });
  const stream = await request(`${address}/jobs/${jobs[1]!.id}/events`);
  await redis.restart();
  const events = await stream.body.text();
  t.match(events, /event: failed\ndata: .*is gone: its store no longer has it/, 'the follower of a waiting job is told it is gone');
  for (const job of jobs) {
    await until(async () => (await api.inject({ url: `/jobs/${job.id}` })).statusCode === 404, 20_000);
  }
  t.pass('every lost job is 404 once the API node has reconnected');
  await until(async () => (await a1111.state()).interrupts > 0, 20_000);
  t.equal(workerProcess.child.exitCode, null, 'the worker is still running');
  await until(() => ready(api), 20_000);
  const fresh = await submit(api, { steps: 2, seed: 9 });
  await until(async () => (await view(api, fresh.id)).state === 'succeeded', 20_000);
});

t.test('worker SIGTERM: idle, it exits at once; busy, it hands its job back within WORKER_LOCK_SECONDS and another worker finishes it', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const idle = await worker(redis, await fake());
  const idleStop = await idle.stop();
  t.equal(idleStop.code, 0, `an idle worker exits 0 (in ${idleStop.ms} ms)`, { output: idle.output() });

  const api = await apiNode(redis);
  const slow = await fake({ stepDelayMs: 30 });
  const busy = await worker(redis, slow);
  await until(() => ready(api), 20_000);
  const job = await submit(api, { steps: 400, seed: 5 });
  await until(async () => (await view(api, job.id)).step > 1, 20_000);
  const other = await fake();
  await worker(redis, other);
  const busyStop = await busy.stop();
  t.equal(busyStop.code, 0, 'exit 0');
  t.ok(busyStop.ms < 3000, `a busy worker stopped within WORKER_LOCK_SECONDS (${busyStop.ms} ms of 3000)`);
  t.ok((await slow.state()).interrupts >= 1, 'its A1111 was interrupted');
  await until(async () => (await view(api, job.id)).state === 'succeeded', 30_000);
  t.equal((await view(api, job.id)).ran_on, other.url, 'the job was handed back and the other worker finished it');
});

t.test('60 queued 1 MB jobs: positions come from counts, not payloads; MAX_QUEUE holds under concurrent submits', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const a1111 = await fake({ stepDelayMs: 50 });
  await worker(redis, a1111);
  const api = await apiNode(redis, { MAX_QUEUE: '60', REDIS_TIMEOUT_MS: '10000' });
  await until(() => ready(api), 20_000);
  const blocker = await submit(api, { steps: 400, seed: 1 });
  await until(async () => (await view(api, blocker.id)).step > 0, 20_000);

  const random = seededRandom(7);
  const big = Buffer.from(encodeRgbPng(600, 600, () => [random() * 256, random() * 256, random() * 256].map(Math.floor) as [number, number, number])).toString('base64');
  t.ok(big.length > 1_000_000, `inputs of ${(big.length / 1e6).toFixed(2)} MB base64`);
  const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => api.inject({ method: 'POST', url: '/jobs', payload: { image: big, steps: 2, seed: 1000 + i } })));
  const accepted = answers.filter((a) => a.statusCode === 202);
  t.equal(accepted.length, 60, 'exactly MAX_QUEUE of 80 concurrent submits were admitted');
  t.ok(answers.filter((a) => a.statusCode !== 202).every((a) => a.statusCode === 503 && /the queue is full \(60 jobs waiting, MAX_QUEUE\)/.test(a.json().message)), 'the rest: 503 queue full');
  t.equal(((await api.inject({ url: '/readyz' })).json() as { queue: { waiting: number } }).queue.waiting, 60);

  const probe = new Redis(redis.url);
  cleanups.push(async () => probe.disconnect());
  const sent = async (): Promise<number> => Number(/total_net_output_bytes:(\d+)/.exec(await probe.info('stats'))![1]);
  const last = accepted.map((a) => a.json() as JobView).sort((a, b) => a.queue_position! - b.queue_position!).at(-1)!;
  const start = await sent();
  const seen = await view(api, last.id);
  const bytes = (await sent()) - start;
  t.equal(seen.queue_position, 60, 'the last admitted job is 60th in line');
  // Redis counts what it sent every client in the window, the running job's progress and the worker's
  // commands too (one clean-clone run saw 73 KB); any one stored input is over 750 KB.
  t.ok(bytes < 256 * 1024, `GET /jobs/:id read ${bytes} bytes from Redis, less than one stored input (the 60 inputs are 60 MB)`);
  for (const job of accepted) await api.inject({ method: 'DELETE', url: `/jobs/${(job.json() as JobView).id}` });
  await api.inject({ method: 'DELETE', url: `/jobs/${blocker.id}` });
});

t.test('two API nodes: each job is counted once, by the worker that ran it, on its own /metrics port', { skip: missing }, async (t) => {
  const redis = await redisServer();
  const a1111 = await fake();
  const workerProcess = await worker(redis, a1111, { WORKER_METRICS_PORT: '0', HOST: '127.0.0.1' });
  await until(() => /worker: metrics at http/.test(workerProcess.output()));
  const metricsUrl = /worker: metrics at (http:\/\/\S+)/.exec(workerProcess.output())![1]!;
  const nodes = [await apiNode(redis), await apiNode(redis)];
  await until(() => ready(nodes[0]!), 20_000);
  const jobs = await Promise.all([0, 1, 2, 3, 4].map((i) => submit(nodes[i % 2]!, { steps: 2, seed: i })));
  for (const job of jobs) await until(async () => (await view(nodes[0]!, job.id)).state === 'succeeded', 20_000);
  for (const node of nodes) {
    t.notMatch((await node.inject({ url: '/metrics' })).body, /latent_upscale_jobs_total\{/, 'an API node counts no job it did not end');
  }
  const text = await (await fetch(metricsUrl)).text();
  t.match(text, /latent_upscale_jobs_total\{backend="a1111",outcome="succeeded"\} 5/);
  t.match(text, /latent_upscale_job_duration_seconds_count\{backend="a1111",stage="total"\} 5/);
});
