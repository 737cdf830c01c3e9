import t from 'tap';
import { request } from 'undici';
import { startFakeA1111Process, startServiceProcess, startWorkerProcess } from '../helpers/processes.js';
import { redisAvailable, startRedis } from '../helpers/redis.js';
import { pngBase64, until } from '../helpers/service.js';
import { missingReference } from '../helpers/references.js';

// `npm start`'s process (src/server.ts) receiving SIGTERM while a client follows a running job.

interface JobView { id: string; state: string; step: number }

async function followJob(url: string, payload: Record<string, unknown>): Promise<{ job: JobView; events: Promise<string> }> {
  const created = await request(`${url}/jobs`, { method: 'POST', body: JSON.stringify({ image: pngBase64(), ...payload }), headers: { 'content-type': 'application/json' } });
  const job = await created.body.json() as JobView;
  await until(async () => ((await (await request(`${url}/jobs/${job.id}`)).body.json()) as JobView).step > 1, 20_000);
  const stream = await request(`${url}/jobs/${job.id}/events`);
  return { job, events: stream.body.text() };
}

t.test('in-process jobs: SIGTERM fails the running and waiting jobs, interrupts A1111, ends the SSE stream, exits 0 within 5 s', async (t) => {
  const a1111 = await startFakeA1111Process({ companion: true, stepDelayMs: 30 });
  t.teardown(() => a1111.kill('SIGKILL'));
  const service = await startServiceProcess({ A1111_URLS: a1111.url, PROGRESS_INTERVAL_MS: '50' });
  t.teardown(() => service.stop('SIGKILL').catch(() => undefined));
  const { events } = await followJob(service.url, { steps: 400, seed: 1 });
  await request(`${service.url}/jobs`, { method: 'POST', body: JSON.stringify({ image: pngBase64(), steps: 4, seed: 2 }), headers: { 'content-type': 'application/json' } });
  const stopped = await service.stop();
  t.equal(stopped.code, 0, 'exit 0');
  t.ok(stopped.ms < 5000, `stopped in ${stopped.ms} ms`);
  t.match(await events, /event: failed\ndata: .*the service is shutting down/, 'the stream ends with the job failing for the shutdown');
  const state = await a1111.state();
  t.equal(state.interrupts, 1, 'A1111 was interrupted');
  t.same(state.seeds, [1], 'the waiting job never started');
});

const missing = missingReference(redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)');

t.test('Redis mode: SIGTERM ends the SSE stream with closing and exits 0 within 5 s; the job goes on at its worker', { skip: missing }, async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const a1111 = await startFakeA1111Process({ companion: true, stepDelayMs: 20 });
  t.teardown(() => a1111.kill('SIGKILL'));
  const env = { REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: a1111.url, PROGRESS_INTERVAL_MS: '50', HEALTH_CHECK_INTERVAL_SECONDS: '0.3' };
  const worker = await startWorkerProcess({ ...env, WORKER_LOCK_SECONDS: '3' });
  t.teardown(() => worker.stop('SIGKILL'));
  const service = await startServiceProcess(env);
  t.teardown(() => service.stop('SIGKILL').catch(() => undefined));
  await until(async () => (await request(`${service.url}/readyz`)).statusCode === 200, 20_000);
  const { job, events } = await followJob(service.url, { steps: 60, seed: 3 });
  const stopped = await service.stop();
  t.equal(stopped.code, 0, 'exit 0');
  t.ok(stopped.ms < 5000, `stopped in ${stopped.ms} ms`);
  t.match(await events, /event: closing\ndata: .*this API node is shutting down; the job goes on/);
  const next = await startServiceProcess(env);
  t.teardown(() => next.stop('SIGKILL').catch(() => undefined));
  await until(async () => ((await (await request(`${next.url}/jobs/${job.id}`)).body.json()) as JobView).state === 'succeeded', 30_000);
  t.equal((await a1111.state()).interrupts, 0, 'the job was not interrupted');
});
