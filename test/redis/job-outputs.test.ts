import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { startFakeA1111Process, startWorkerProcess } from '../helpers/processes.js';
import { redisAvailable, startRedis } from '../helpers/redis.js';
import { skipFileWithout } from '../helpers/references.js';
import { pngBase64, until } from '../helpers/service.js';

// Redis mode, every part a real process (redis-server, a worker, a fake A1111), the API node in this one:
// a job that ran on a worker names the model that ran, and DELETE of it once finished is a 409.

interface JobView { id: string; state: string; parameters: Record<string, unknown> }

if (!skipFileWithout(t, redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)')) {
  const model = { name: 'realisticVision_v51', hash: '15012c538f' };
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const fake = await startFakeA1111Process({ companion: true, model });
  t.teardown(() => fake.kill());
  const worker = await startWorkerProcess({ REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: fake.url, PROGRESS_INTERVAL_MS: '50', HEALTH_CHECK_INTERVAL_SECONDS: '0.5' });
  t.teardown(() => worker.stop());
  const api = await buildApp(loadConfig({ REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: 'http://127.0.0.1:9', LOG_LEVEL: 'silent', HEALTH_CHECK_INTERVAL_SECONDS: '0.3' }), { logger: false });
  await api.ready();
  t.teardown(() => api.close());

  t.test('a job run by a worker names the model that ran; cancelling it afterwards is a 409', async (t) => {
    await until(async () => (await api.inject({ url: '/readyz' })).statusCode === 200, 20_000);
    const { id } = (await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3 } })).json() as JobView;
    await until(async () => ((await api.inject({ url: `/jobs/${id}` })).json() as JobView).state === 'succeeded', 20_000);
    const job = (await api.inject({ url: `/jobs/${id}` })).json() as JobView;
    t.match(job.parameters, { model: model.name, model_hash: model.hash, ran_on: fake.url });
    const cancel = await api.inject({ method: 'DELETE', url: `/jobs/${id}` });
    t.equal(cancel.statusCode, 409);
    t.match(cancel.json(), { code: 'JOB_FINISHED', message: `job ${id} has already ended (succeeded); only a queued or running job can be cancelled` });
  });
}
