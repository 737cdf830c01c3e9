import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { jobAnswers } from '../helpers/ownership.js';
import { redisAvailable, startRedis, startWorker } from '../helpers/redis.js';
import { skipFileWithout } from '../helpers/references.js';
import { pngBase64, until } from '../helpers/service.js';

const one = { authorization: 'Bearer key-one' };
const two = { authorization: 'Bearer key-two' };

if (!skipFileWithout(t, redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)')) {
  t.test('a job belongs to its key on every API node; Redis holds a digest of the key, never the key', async (t) => {
    const redis = await startRedis();
    // One A1111 that holds its job running until released: a second job has to wait in line.
    const fake = await new FakeA1111({ companion: true, hang: true }).start();
    const worker = await startWorker({ REDIS_URL: redis.url, BACKENDS: 'a1111', A1111_URLS: fake.url, HEALTH_CHECK_INTERVAL_SECONDS: '0.5' });
    const apiConfig = loadConfig({ REDIS_URL: redis.url, BACKENDS: 'a1111', API_KEYS: 'key-one,key-two', LOG_LEVEL: 'silent', HEALTH_CHECK_INTERVAL_SECONDS: '0.3' });
    const [first, second] = [await buildApp(apiConfig, { logger: false }), await buildApp(apiConfig, { logger: false })];
    await Promise.all([first.ready(), second.ready()]);
    const raw = new Redis(redis.url);
    t.teardown(async () => {
      fake.behaviour.hang = false;
      raw.disconnect();
      await Promise.all([first.close(), second.close()]);
      worker.kill('SIGKILL');
      await fake.stop();
      await redis.stop();
    });
    const state = async (id: string): Promise<string> => (await second.inject({ url: `/jobs/${id}`, headers: one })).json().state as string;
    await until(async () => (await first.inject({ url: '/readyz', headers: one })).statusCode === 200, 20_000);

    const submit = async (): Promise<string> => (await first.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 10 }, headers: one })).json().id as string;
    const running = await submit();
    await until(async () => (await state(running)) === 'running', 20_000);
    await until(() => fake.received.length === 1, 20_000); // sent to A1111, whose interrupt the owner's DELETE needs
    const waiting = await submit();
    t.equal(await state(waiting), 'queued', 'the second job waits behind the held one');
    t.equal((await second.inject({ method: 'DELETE', url: `/jobs/${waiting}`, headers: one })).statusCode, 202);
    t.equal(await state(waiting), 'cancelled', 'ended while waiting: kept as a record of its own');

    const unknown = await jobAnswers(second, randomUUID(), two);
    t.ok(Object.values(unknown).every((a) => a.statusCode === 404 && (a.body as { code: string }).code === 'JOB_NOT_FOUND'), 'an id nobody had is a 404 JOB_NOT_FOUND everywhere');
    t.same(await jobAnswers(second, running, two), unknown, 'a running job of another key, read at another node, is unknown');
    t.same(await jobAnswers(second, waiting, two), unknown, 'so is one that ended while waiting');
    t.equal(await state(running), 'running', "the other key's DELETE did not cancel it");

    const stored = await raw.hgetall(`bull:latent-upscale-a1111:${running}`);
    const owner = (JSON.parse(stored['data']!) as { record: { owner?: unknown } }).record.owner;
    t.type(owner, 'string', 'the BullMQ job names its owner');
    t.notOk(JSON.stringify(stored).includes('key-one'), 'but not by its key');
    const ended = (await raw.get(`latent-upscale:ended:${waiting}`))!;
    t.equal((JSON.parse(ended) as { owner?: unknown }).owner, owner, 'the ended record has the same owner');
    t.notOk(ended.includes('key-one'));

    t.equal((await second.inject({ method: 'DELETE', url: `/jobs/${running}`, headers: one })).statusCode, 202, 'its own key cancels it at any node');
    await until(async () => (await state(running)) === 'cancelled', 20_000);
    t.equal(fake.interruptCount, 1);
  });
}
