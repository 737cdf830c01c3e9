import t from 'tap';
import { request } from 'undici';
import { Redis } from 'ioredis';
import { startFakeA1111Process } from '../helpers/processes.js';
import { redisAvailable, startRedis } from '../helpers/redis.js';
import { pngBase64, until } from '../helpers/service.js';
import { missingReference } from '../helpers/references.js';

// The fault-injection infrastructure itself: a fake A1111 in its own process whose faults change at
// runtime, and a redis-server that can be frozen and restarted.

const fake = await startFakeA1111Process({ stepDelayMs: 10 });
t.teardown(() => fake.kill());

const img2img = (signal?: AbortSignal) => request(`${fake.url}/sdapi/v1/img2img`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, signal,
  body: JSON.stringify({ init_images: [pngBase64()], steps: 10, denoising_strength: 0.5, seed: 7 }),
});
const progress = async () => ((await (await request(`${fake.url}/sdapi/v1/progress`)).body.json()) as { state: { job_count: number; sampling_step: number } }).state;
const probe = async () => (await request(`${fake.url}/sdapi/v1/scripts`)).statusCode;

t.test('answers probes and jobs, and reports what it received', async (t) => {
  t.equal(await probe(), 200);
  const answer = await img2img();
  t.equal(answer.statusCode, 200);
  t.ok(((await answer.body.json()) as { images: string[] }).images[0]);
  const state = await fake.state();
  t.match(state, { received: 1, seeds: [7], interrupts: 0, maxConcurrent: 1, payloads: [{ steps: 10, init_images: [pngBase64().length] }] });
});

t.test('failAlways: every img2img fails while probes pass', async (t) => {
  const body = { error: 'RuntimeError', detail: '', body: '', errors: 'boom' };
  await fake.setBehaviour({ failAlways: { status: 500, body } });
  for (const attempt of [1, 2]) {
    const answer = await img2img();
    t.equal(answer.statusCode, 500, `attempt ${attempt}`);
    t.same(await answer.body.json(), body);
  }
  t.equal(await probe(), 200);
  await fake.setBehaviour({ failAlways: undefined });
  t.equal((await img2img()).statusCode, 200, 'undefined lifts it');
});

t.test('hang: the job is taken and never answered, not even after /interrupt', async (t) => {
  await fake.setBehaviour({ hang: true });
  const hung = img2img(AbortSignal.timeout(500));
  await until(async () => (await progress()).job_count === 1);
  await request(`${fake.url}/sdapi/v1/interrupt`, { method: 'POST' });
  await t.rejects(hung, { name: 'TimeoutError' });
  t.match(await progress(), { job_count: 1, sampling_step: 0 }, 'still stuck after the client gave up');
  t.equal(await probe(), 200);
  await fake.setBehaviour({ hang: false });
  await until(async () => (await progress()).job_count === 0);
});

t.test('garbage: 200 with a body that is not JSON, or an image that is not one', async (t) => {
  await fake.setBehaviour({ garbage: 'not-json' });
  const html = await img2img();
  t.equal(html.statusCode, 200);
  t.equal(await html.body.text(), '<html>Internal proxy error</html>');
  await fake.setBehaviour({ garbage: 'bad-image' });
  const json = (await (await img2img()).body.json()) as { images: string[] };
  t.notOk(Buffer.from(json.images[0]!, 'base64').subarray(1, 4).equals(Buffer.from('PNG')), 'not a PNG');
  await fake.setBehaviour({ garbage: undefined });
});

t.test('exitAfterSteps: the process dies mid-job and restart() brings it back on the same port', async (t) => {
  await fake.setBehaviour({ exitAfterSteps: 3 });
  await t.rejects(img2img(), 'the connection drops');
  t.equal(await fake.exited, 1);
  await fake.restart();
  t.equal(await probe(), 200);
  t.match(await fake.state(), { received: 0 }, 'a fresh process');
  t.equal((await img2img()).statusCode, 200, 'without the fault set at runtime');
});

t.test('redis-server: frozen, thawed, restarted empty', { skip: missingReference(redisAvailable() ? undefined : 'no redis-server (apt-get install redis-server)') ?? false }, async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const connect = (): Redis => {
    const client = new Redis(redis.url, { commandTimeout: 300 });
    t.teardown(() => client.disconnect());
    return client;
  };
  const client = connect();
  client.on('error', () => undefined); // the restart drops this connection on purpose
  await client.set('survives', 'no');
  redis.freeze();
  await t.rejects(client.ping(), /timed out/);
  redis.thaw();
  t.equal(await client.ping(), 'PONG');
  await redis.restart();
  const fresh = connect();
  t.equal(await fresh.ping(), 'PONG');
  t.equal(await fresh.get('survives'), null);
});
