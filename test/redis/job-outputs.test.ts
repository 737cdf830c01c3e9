import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { startFakeA1111Process, startWorkerProcess } from '../helpers/processes.js';
import { redisAvailable, startRedis } from '../helpers/redis.js';
import { skipFileWithout } from '../helpers/references.js';
import { fakePreview } from '../fakes/fake-a1111.js';
import { pngBase64, until } from '../helpers/service.js';

// Redis mode, every part a real process (redis-server, a worker, a fake A1111), the API node in this one:
// a job that ran on a worker names the model that ran, and DELETE of it once finished is a 409; a live
// preview made on the worker reaches the API node.

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

  t.test('a preview made on the worker reaches the API node, through Redis', async (t) => {
    await until(async () => (await api.inject({ url: '/readyz' })).statusCode === 200, 20_000);
    await fake.setBehaviour({ stepDelayMs: 250 });
    t.teardown(() => fake.setBehaviour({ stepDelayMs: undefined }));
    const { id } = (await api.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 6, preview: 'full', preview_every: 2 } })).json() as JobView;
    const preview = async () => api.inject({ url: `/jobs/${id}/preview` });
    await until(async () => (await preview()).statusCode === 200, 20_000);
    const shown = await preview();
    const step = Number(shown.headers['x-step']);
    t.ok([2, 4].includes(step), `a preview step: ${step}`);
    t.equal(shown.headers['content-type'], 'image/png');
    t.ok(shown.rawPayload.equals(Buffer.from(fakePreview(step))), 'the image A1111 showed at that step');
    await until(async () => ((await api.inject({ url: `/jobs/${id}` })).json() as JobView).state === 'succeeded', 20_000);
    t.match((await preview()).json(), { code: 'PREVIEW_NOT_READY' }, 'gone once the job has ended');
  });
}
