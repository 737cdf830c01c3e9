import type { ChildProcess } from 'node:child_process';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { sniffImage } from '../../src/images/sniff.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { redisAvailable, startRedis, startWorker } from '../helpers/redis.js';
import { pngBase64, readJob, submitJob, until } from '../helpers/service.js';
import { skipFileWithout } from '../helpers/references.js';

interface JobView { id: string; state: string; step: number; error: { message: string } | null }

if (!skipFileWithout(t, redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)')) {
  const redis = await startRedis();
  const fakes = await Promise.all([new FakeA1111({ companion: true, stepDelayMs: 25 }).start(), new FakeA1111({ companion: true, stepDelayMs: 25 }).start()]);
  const workerEnv = (fake: FakeA1111): Record<string, string> => ({
    REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: fake.url, WORKER_LOCK_SECONDS: '1', PROGRESS_INTERVAL_MS: '50', HEALTH_CHECK_INTERVAL_SECONDS: '0.5',
  });
  const workers: ChildProcess[] = await Promise.all(fakes.map((fake) => startWorker(workerEnv(fake))));
  const apiConfig = { REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: 'http://127.0.0.1:9', LOG_LEVEL: 'silent', HEALTH_CHECK_INTERVAL_SECONDS: '0.3' };
  const api = await buildApp(loadConfig(apiConfig), { logger: false });
  await api.ready();
  t.teardown(async () => {
    await api.close();
    for (const worker of workers) worker.kill('SIGKILL');
    await Promise.all(fakes.map((f) => f.stop()));
    await redis.stop();
  });
  const view = (id: string, app = api): Promise<JobView> => readJob<JobView>(app, id);
  const submit = (steps: number, seed: number): Promise<JobView> => submitJob<JobView>(api, { steps, seed });

  t.test('the API is ready once workers are connected; two workers share the jobs', async (t) => {
    await until(async () => (await api.inject({ url: '/readyz' })).statusCode === 200);
    const jobs = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => submit(8, seed)));
    const stream = await api.inject({ url: `/jobs/${jobs[5]!.id}/events` });
    t.match(stream.body, /event: progress\ndata: \{"type":"progress","progress":[\d.]+,"step":\d+,"steps":8/, "SSE progress from another process");
    t.match(stream.body, /event: done/);
    await until(async () => (await Promise.all(jobs.map((j) => view(j.id)))).every((v) => v.state === 'succeeded'), 20_000);
    t.ok(fakes.every((f) => f.received.length > 0), `both workers ran jobs: ${fakes.map((f) => f.received.length).join(' + ')}`);
    t.equal(fakes[0]!.received.length + fakes[1]!.received.length, 6);
    const result = await api.inject({ url: `/jobs/${jobs[0]!.id}/result` });
    t.same(sniffImage(result.rawPayload), { format: 'png', width: 128, height: 96 });
  });

  t.test('cancel reaches the worker that holds the job', async (t) => {
    const before = fakes.map((f) => f.received.length);
    const job = await submit(400, 77);
    await until(async () => (await view(job.id)).step > 1, 20_000);
    const holder = fakes.findIndex((f, i) => f.received.length > before[i]!);
    await api.inject({ method: 'DELETE', url: `/jobs/${job.id}` });
    await until(async () => (await view(job.id)).state === 'cancelled', 20_000);
    t.equal(fakes[holder]!.interruptCount, 1, `worker ${holder + 1}'s A1111 was interrupted`);
    t.equal(fakes[1 - holder]!.interruptCount, 0, 'the other was not');
  });

  t.test('jobs wait in line behind busy workers; cancelling a waiting job removes it before any worker sees it', async (t) => {
    const busy = [await submit(400, 201), await submit(400, 202)];
    await until(async () => (await Promise.all(busy.map((j) => view(j.id)))).every((v) => v.step > 0), 20_000);
    const waiting = [await submit(4, 203), await submit(4, 204)];
    const positions = await Promise.all(waiting.map(async (j) => ((await api.inject({ url: `/jobs/${j.id}` })).json() as { queue_position: number | null }).queue_position));
    t.same(positions, [1, 2], 'first come, first served');
    const received = fakes.map((f) => f.received.length);
    await api.inject({ method: 'DELETE', url: `/jobs/${waiting[0]!.id}` });
    t.equal((await view(waiting[0]!.id)).state, 'cancelled');
    for (const job of busy) await api.inject({ method: 'DELETE', url: `/jobs/${job.id}` });
    await until(async () => (await view(waiting[1]!.id)).state === 'succeeded', 20_000);
    t.equal(fakes[0]!.received.length + fakes[1]!.received.length, received[0]! + received[1]! + 1, 'only the job still waiting ran');
    t.equal((await view(waiting[0]!.id)).state, 'cancelled', 'the cancelled one stays cancelled');
  });

  t.test('a worker killed mid-job: its job is retried by the other worker and succeeds', async (t) => {
    const before = fakes.map((f) => f.received.length);
    const job = await submit(60, 88);
    await until(async () => (await view(job.id)).step > 1, 20_000);
    const holder = fakes.findIndex((f, i) => f.received.length > before[i]!);
    workers[holder]!.kill('SIGKILL');
    await until(async () => (await view(job.id)).state === 'succeeded', 30_000);
    t.equal(fakes[1 - holder]!.received.length, before[1 - holder]! + 1, 'the surviving worker ran it again');
  });

  t.test('an API node restart loses nothing: another node finds the job and its result', async (t) => {
    const first = await buildApp(loadConfig(apiConfig), { logger: false });
    await first.ready();
    const job = (await first.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 5, seed: 99 } })).json() as JobView;
    await first.close();
    const second = await buildApp(loadConfig(apiConfig), { logger: false });
    await second.ready();
    t.teardown(() => second.close());
    await until(async () => (await view(job.id, second)).state === 'succeeded', 20_000);
    const result = await second.inject({ url: `/jobs/${job.id}/result`, headers: { accept: 'application/json' } });
    t.equal(result.json().parameters.seed, 99);
  });
}
