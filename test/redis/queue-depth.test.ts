import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { redisAvailable, startRedis, startWorker } from '../helpers/redis.js';
import { readJob, submitJob, until } from '../helpers/service.js';
import { skipFileWithout } from '../helpers/references.js';

// A worker with A1111_QUEUE_DEPTH=2 takes two jobs per instance from Redis, so the next one waits at
// A1111's queue as it does without Redis (test/faults/a1111-queue-depth.test.ts).

interface JobView { id: string; state: string }

if (!skipFileWithout(t, redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)')) {
  const redis = await startRedis();
  const fake = await new FakeA1111({ companion: true, stepDelayMs: 5 }).start();
  const worker = await startWorker({
    REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: fake.url, A1111_QUEUE_DEPTH: '2', PROGRESS_INTERVAL_MS: '50', HEALTH_CHECK_INTERVAL_SECONDS: '0.5',
  });
  const api = await buildApp(loadConfig({ REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }), { logger: false });
  await api.ready();
  t.teardown(async () => {
    fake.behaviour.hang = false;
    await api.close();
    worker.kill('SIGKILL');
    await fake.stop();
    await redis.stop();
  });

  t.test('the worker sends the second job while the first is held mid-generation, not a third', async (t) => {
    await until(async () => (await api.inject({ url: '/readyz' })).statusCode === 200, 20_000);
    fake.holdAfterStep = 2;
    const jobs = [await submitJob<JobView>(api, { steps: 4, seed: 1 }), await submitJob<JobView>(api, { steps: 4, seed: 2 }), await submitJob<JobView>(api, { steps: 4, seed: 3 })];
    await until(() => fake.received.length === 2, 20_000);
    const polled = fake.progressReads;
    await until(() => fake.progressReads >= polled + 4, 20_000);
    t.equal(fake.received.length, 2, 'two at A1111 at most');
    t.equal(fake.progress.sampling_step, 2, 'the first is still held');
    fake.holdAfterStep = undefined;
    fake.behaviour.hang = false;
    await until(async () => (await Promise.all(jobs.map((job) => readJob<JobView>(api, job.id)))).every((job) => job.state === 'succeeded'), 20_000);
    t.same(fake.received.map((body) => body['seed']), [1, 2, 3]);
  });
}
