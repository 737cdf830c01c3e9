import t from 'tap';
import { request } from 'undici';
import { pngBase64, startService, until } from '../helpers/service.js';

// Fault injection against fake A1111 servers on real sockets, the service in this process. Every row of
// issue 8's table that concerns A1111 instances, each a test that failed before the job runtime rewrite.

interface JobView { id: string; state: string; step: number; error: { status: number; message: string } | null }
interface Unit { target: string; healthy: boolean; error?: string }

t.test('the only instance dies while a bicubic job waits behind a running one: both end with 503 and a reason, within a few health checks', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 30 });
  t.teardown(() => service.close());
  const { app } = service;
  const running = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 400, seed: 1 } })).json() as JobView;
  const waiting = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 4, method: 'bicubic', seed: 2 } })).json() as JobView;
  await until(async () => ((await app.inject({ url: `/jobs/${running.id}` })).json() as JobView).step > 0);
  const waitingUpscale = app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 4, method: 'bicubic', seed: 3 } });
  await service.fakes[0]!.stop();
  await until(async () => ((await app.inject({ url: `/jobs/${waiting.id}` })).json() as JobView).state === 'failed', 10_000);
  const first = (await app.inject({ url: `/jobs/${running.id}` })).json() as JobView;
  const second = (await app.inject({ url: `/jobs/${waiting.id}` })).json() as JobView;
  t.same([first.state, first.error?.status], ['failed', 503], 'the running job fails: its instance is unreachable and there is no other');
  t.same([second.state, second.error?.status], ['failed', 503]);
  t.match(second.error!.message, /no a1111 unit could run this job for \d+ s: no A1111 instance is available \(A1111 at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
  const upscale = await waitingUpscale;
  t.equal(upscale.statusCode, 503, 'a waiting POST /upscale answers too');
  t.match(upscale.json().message, /no A1111 instance is available/);
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503, '/readyz is not ready');
});

t.test('one of two instances answers 500 to every img2img: it is taken out, jobs move to the other, all succeed', async (t) => {
  const service = await startService([{ companion: true }, { companion: true }], { A1111_MAX_FAILURES: '2' });
  t.teardown(() => service.close());
  const [broken, healthy] = service.fakes;
  broken!.behaviour.failAlways = { status: 500, body: { error: 'RuntimeError', detail: '', body: '', errors: 'model weights are corrupt' } };
  const answers = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 3, seed } })));
  t.same(answers.map((a) => a.statusCode), [200, 200, 200, 200, 200, 200, 200, 200], 'every job succeeded');
  t.equal(healthy!.received.length, 8, 'the healthy instance ran all eight');
  t.equal(broken!.received.length, 2, 'the broken one was tried until it had failed A1111_MAX_FAILURES times in a row');
  const units = ((await service.app.inject({ url: '/readyz' })).json() as { backends: { a1111: { units: Unit[] } } }).backends.a1111.units;
  const out = units.find((u) => u.target === broken!.url)!;
  t.equal(out.healthy, false);
  t.match(out.error, /taken out of service for [\d.]+ s: 2 jobs failed in a row \(A1111_MAX_FAILURES\); last: .*model weights are corrupt/);
});

t.test('an instance that hangs mid-job: the stall is detected, the instance interrupted and taken out, the job moved', async (t) => {
  const service = await startService([{ companion: true, stepDelayMs: 20 }, { companion: true }], { A1111_STALL_SECONDS: '0.5' });
  t.teardown(() => service.close());
  const [hung, healthy] = service.fakes;
  hung!.behaviour.hang = true;
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 5, seed: 5 }, headers: { accept: 'application/json' } });
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.json().parameters.ran_on, healthy!.url, 'it ran on the other instance');
  t.equal(hung!.received.length, 1);
  t.ok(hung!.interruptCount >= 1, 'the hung instance was sent /interrupt');
  const units = ((await service.app.inject({ url: '/readyz' })).json() as { backends: { a1111: { units: Unit[] } } }).backends.a1111.units;
  t.match(units.find((u) => u.target === hung!.url)!.error, /made no progress for 0\.5 s \(A1111_STALL_SECONDS\)/);
});

t.test('cancelling a job on a hung instance ends it: the call is aborted and A1111 interrupted', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 20 });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  fake.behaviour.hang = true;
  const job = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 50 } })).json() as JobView;
  await until(() => fake.received.length === 1);
  await service.app.inject({ method: 'DELETE', url: `/jobs/${job.id}` });
  // The hung instance never answers on its own, so the job can only end through the cancel; the deadline
  // is only there to fail the test rather than hang it.
  await until(async () => ((await service.app.inject({ url: `/jobs/${job.id}` })).json() as JobView).state === 'cancelled', 10_000);
  await until(() => fake.interruptCount >= 1, 10_000);
  t.equal(fake.received.length, 1, 'cancelled and interrupted; nothing was sent again');
});

t.test('an A1111 that answers garbage: 502 naming what it sent, never a "succeeded" non-image', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  fake.behaviour.garbage = 'not-json';
  const notJson = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(notJson.statusCode, 502);
  t.match(notJson.json().message, /answered POST \/sdapi\/v1\/img2img with something that is not JSON/);
  fake.behaviour.garbage = 'bad-image';
  const badImage = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(badImage.statusCode, 502);
  t.match(badImage.json().message, /returned something that is not an image \(\d+ bytes starting [0-9a-f]+\)/);
});

t.test('POST /upscale whose client disconnects mid-job: the job is cancelled and A1111 interrupted', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 30 });
  t.teardown(() => service.close());
  const address = await service.app.listen({ port: 0, host: '127.0.0.1' });
  const fake = service.fakes[0]!;
  const client = new AbortController();
  const pending = request(`${address}/upscale`, {
    method: 'POST', body: JSON.stringify({ image: pngBase64(), steps: 400 }), headers: { 'content-type': 'application/json' }, signal: client.signal,
  }).catch(() => 'aborted');
  await until(async () => ((await service.app.inject({ url: '/readyz' })).json() as { queue: { running: number } }).queue.running === 1);
  client.abort();
  t.equal(await pending, 'aborted');
  await until(() => fake.interruptCount === 1);
  await until(async () => ((await service.app.inject({ url: '/readyz' })).json() as { queue: { running: number } }).queue.running === 0);
  t.equal(fake.received.length, 1, 'nothing else ran');
});

t.test('an answer that stops halfway: the instance takes the next job meanwhile, and cancelling the held one does not interrupt it', async (t) => {
  const service = await startService({ companion: true });
  const fake = service.fakes[0]!;
  t.teardown(async () => {
    fake.holdAnswer = false;
    fake.behaviour.hang = false;
    await service.close();
  });
  fake.holdAnswer = true;
  let receivedAtFirstAnswer: number | undefined;
  fake.onAnswer = () => {
    if (receivedAtFirstAnswer !== undefined) return;
    receivedAtFirstAnswer = fake.received.length;
    // The second job is then held mid-generation, so it is still running when the first is cancelled.
    fake.holdAfterStep = 1;
  };
  const view = async (id: string): Promise<JobView> => (await service.app.inject({ url: `/jobs/${id}` })).json() as JobView;
  const first = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3, seed: 1 } })).json() as JobView;
  const second = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3, seed: 2 } })).json() as JobView;
  const third = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3, seed: 3 } })).json() as JobView;
  await until(() => fake.received.length === 2);
  t.equal(receivedAtFirstAnswer, 1, 'the second job was sent only once the first had finished generating');
  t.equal((await view(first.id)).state, 'running', 'the first job is still reading its held answer');

  await service.app.inject({ method: 'DELETE', url: `/jobs/${first.id}` });
  await until(async () => (await view(first.id)).state === 'cancelled');
  await until(async () => (await view(second.id)).step > 0);
  t.equal(fake.interruptCount, 0, 'no /interrupt: it would have stopped the second job');
  t.equal((await view(third.id)).state, 'queued', 'the first job\'s end did not free the instance the second job holds');
  t.equal(fake.received.length, 2);
  fake.holdAnswer = false;
  fake.holdAfterStep = undefined;
  fake.behaviour.hang = false;
  await until(async () => (await view(third.id)).state === 'succeeded');
  t.equal((await view(second.id)).state, 'succeeded');
  t.equal(fake.maxConcurrent, 1);
});

t.test('an answer that stays unfinished past A1111_STALL_SECONDS fails as a stall naming the answer, and the job moves', async (t) => {
  const service = await startService([{ companion: true }, { companion: true }], { A1111_STALL_SECONDS: '0.5' });
  const [slow, healthy] = service.fakes;
  t.teardown(async () => {
    slow!.holdAnswer = false;
    await service.close();
  });
  slow!.holdAnswer = true;
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 3, seed: 7 }, headers: { accept: 'application/json' } });
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.json().parameters.ran_on, healthy!.url, 'it ran on the other instance');
  t.equal(slow!.received.length, 1);
  t.equal(slow!.interruptCount, 0, 'A1111 had finished the job: nothing to interrupt');
  const units = ((await service.app.inject({ url: '/readyz' })).json() as { backends: { a1111: { units: Unit[] } } }).backends.a1111.units;
  t.match(units.find((u) => u.target === slow!.url)!.error, /began its answer but had not finished it 0\.5 s later \(A1111_STALL_SECONDS\)/);
});
