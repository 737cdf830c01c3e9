import { mock } from 'node:test';
import t from 'tap';
import { sniffImage } from '../../src/images/sniff.js';
import { parseSse, pngBase64, readJob, readSse, startService, submitJob, until, type Harness } from '../helpers/service.js';

// Nothing here waits for a moment to pass: a job that a test looks at mid-run is held there by the fake
// (holdAfterStep, hang) until the test has looked, and the result TTL runs on node:test's fake clock.

interface JobView {
  id: string;
  state: string;
  progress: number;
  step: number;
  steps: number;
  queue_position: number | null;
  error: { status: number; message: string } | null;
}

const view = (service: Harness, id: string): Promise<JobView> => readJob<JobView>(service.app, id);
const submit = (service: Harness, payload: Record<string, unknown>): Promise<JobView> => submitJob<JobView>(service.app, payload);
/** Closes the service after letting every held fake go on (a held fake only stops for its own shutdown). */
const closeReleased = (service: Harness) => async (): Promise<void> => {
  for (const fake of service.fakes) fake.behaviour.hang = false;
  await service.close();
};

t.test('POST /jobs answers 202; GET shows progress; the result is the PNG', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(closeReleased(service));
  const fake = service.fakes[0]!;
  fake.holdAfterStep = 3;
  const created = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 10 } });
  t.equal(created.statusCode, 202);
  const job = created.json() as JobView;
  t.equal(created.headers.location, `/jobs/${job.id}`);
  t.ok(['queued', 'running'].includes(job.state));
  let held: JobView | undefined;
  await until(async () => {
    held = await view(service, job.id);
    return held.state === 'running' && held.step > 0;
  });
  t.ok(held!.progress > 0 && held!.progress < 1, `a running job reports progress in (0, 1): ${held!.progress}`);
  t.ok(held!.step < 10, `and step ${held!.step} of 10`);
  t.equal(held!.steps, 10);
  fake.behaviour.hang = false;
  await until(async () => (await view(service, job.id)).state === 'succeeded');
  const done = await view(service, job.id);
  t.same([done.progress, done.step], [1, 10]);
  const result = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(result.headers['content-type'], 'image/png');
  t.same(sniffImage(result.rawPayload), { format: 'png', width: 128, height: 96 });
});

t.test('the result of an unfinished job is a 409; unknown ids are 404, malformed ids 400', async (t) => {
  const service = await startService({ companion: true, hang: true });
  t.teardown(closeReleased(service));
  const job = await submit(service, { steps: 20 });
  const early = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(early.statusCode, 409);
  t.match(early.json().message, /is (queued|running); the result is ready when/);
  t.equal((await service.app.inject({ url: '/jobs/00000000-0000-4000-8000-000000000000' })).statusCode, 404);
  t.equal((await service.app.inject({ url: '/jobs/not-a-uuid' })).statusCode, 400);
});

t.test('cancel mid-job interrupts A1111; cancel while queued never reaches it', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(closeReleased(service));
  const fake = service.fakes[0]!;
  fake.holdAfterStep = 2;
  const running = await submit(service, { steps: 50, seed: 1 });
  const queued = await submit(service, { steps: 50, seed: 2 });
  await until(async () => (await view(service, running.id)).step > 0);
  t.equal((await view(service, queued.id)).queue_position, 1);

  const cancelQueued = await service.app.inject({ method: 'DELETE', url: `/jobs/${queued.id}` });
  t.equal(cancelQueued.statusCode, 202);
  t.equal((cancelQueued.json() as JobView).state, 'cancelled');
  await service.app.inject({ method: 'DELETE', url: `/jobs/${running.id}` });
  await until(async () => (await view(service, running.id)).state === 'cancelled');
  await until(() => fake.interruptCount > 0);
  // The held sampling goes on, sees the interrupt and ends, as A1111's does.
  fake.behaviour.hang = false;
  t.equal(fake.interruptCount, 1, 'A1111 was interrupted once');
  t.same(fake.received.map((p) => p['seed']), [1], 'the queued job never reached A1111');
  const result = await service.app.inject({ url: `/jobs/${running.id}/result` });
  t.equal(result.statusCode, 409);
  t.match(result.json().message, /was cancelled/);
});

t.test('one job at a time per instance, in submission order; two instances share the queue', async (t) => {
  const single = await startService({ companion: true });
  t.teardown(() => single.close());
  const seeds = [11, 12, 13, 14];
  const jobs: JobView[] = [];
  for (const seed of seeds) jobs.push(await submit(single, { steps: 4, seed }));
  await until(async () => (await Promise.all(jobs.map(async (j) => (await view(single, j.id)).state))).every((s) => s === 'succeeded'));
  t.same(single.fakes[0]!.received.map((p) => p['seed']), seeds, 'A1111 saw the jobs in submission order');
  t.equal(single.fakes[0]!.maxConcurrent, 1);

  // Both instances hold their first job, so neither can take a second: the first two jobs must have gone
  // one to each, and the other two wait in the one shared line.
  const pair = await startService([{ companion: true, hang: true }, { companion: true, hang: true }]);
  t.teardown(closeReleased(pair));
  const pairJobs: JobView[] = [];
  for (const seed of [1, 2, 3, 4]) pairJobs.push(await submit(pair, { steps: 5, seed }));
  await until(() => pair.fakes.every((f) => f.received.length === 1));
  t.same(pair.fakes.map((f) => f.received[0]!['seed']).sort(), [1, 2], 'the first two jobs, one on each instance');
  t.same(await Promise.all(pairJobs.slice(2).map(async (j) => (await view(pair, j.id)).queue_position)), [1, 2], 'the other two wait in order');
  for (const fake of pair.fakes) fake.behaviour.hang = false;
  await until(async () => (await Promise.all(pairJobs.map(async (j) => (await view(pair, j.id)).state))).every((s) => s === 'succeeded'));
  t.equal(pair.fakes[0]!.received.length + pair.fakes[1]!.received.length, 4, 'each job ran once');
  t.same(pair.fakes.map((f) => f.maxConcurrent), [1, 1], 'never two jobs on one instance');
});

t.test('finished results expire after RESULT_TTL_SECONDS', async (t) => {
  const service = await startService({ companion: true }, { RESULT_TTL_SECONDS: '60' });
  t.teardown(async () => {
    mock.timers.reset();
    await service.close();
  });
  const fake = service.fakes[0]!;
  // From the fake's answer on, setTimeout is node:test's fake clock; the job ends after the answer, so
  // its result's expiry timer runs on that clock and the test moves it.
  fake.onAnswer = () => {
    fake.onAnswer = undefined;
    mock.timers.enable({ apis: ['setTimeout'] });
  };
  const job = await submit(service, { steps: 2 });
  const events = parseSse((await service.app.inject({ url: `/jobs/${job.id}/events` })).body);
  t.equal(events.at(-1)?.type, 'done');
  t.equal((await service.app.inject({ url: `/jobs/${job.id}/result` })).statusCode, 200);
  mock.timers.tick(59_999);
  t.equal((await service.app.inject({ url: `/jobs/${job.id}/result` })).statusCode, 200, 'there 1 ms before the TTL');
  mock.timers.tick(1);
  const gone = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(gone.statusCode, 404, 'gone at the TTL');
  t.match(gone.json().message, /not found \(unknown, finished more than RESULT_TTL_SECONDS ago/);
});

t.test('SSE: state, progress with steps, then done; a failed job ends with failed', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(closeReleased(service));
  const fake = service.fakes[0]!;
  fake.holdAfterStep = 3;
  const address = await service.app.listen({ port: 0, host: '127.0.0.1' });
  const job = await submit(service, { steps: 8 });
  // The job is held until the stream has carried a progress event.
  const events = await readSse(`${address}/jobs/${job.id}/events`, (event) => {
    if (event.type === 'progress') fake.behaviour.hang = false;
  });
  t.equal(events[0]!.type, 'state');
  const progress = events.filter((e) => e.type === 'progress');
  t.ok(progress.length > 0, `${progress.length} progress events`);
  t.ok(progress.every((e) => e.data['steps'] === 8 && (e.data['step'] as number) <= 8));
  t.equal(events[events.length - 1]!.type, 'done');

  fake.failNext = { status: 500, body: { error: 'RuntimeError', errors: 'boom' } };
  const failing = await submit(service, { steps: 2 });
  const failedStream = await service.app.inject({ url: `/jobs/${failing.id}/events` });
  t.match(failedStream.body, /event: failed\ndata: .*RuntimeError: boom/);
});

t.test('a full queue answers 503 and readyz reports it', async (t) => {
  const service = await startService({ companion: true, hang: true }, { MAX_QUEUE: '1' });
  t.teardown(closeReleased(service));
  await submit(service, { steps: 20 });
  await until(() => service.fakes[0]!.received.length === 1);
  t.equal((await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } })).statusCode, 202);
  const full = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } });
  t.equal(full.statusCode, 503);
  t.match(full.json().message, /the queue is full \(1 jobs waiting, MAX_QUEUE\)/);
  const ready = await service.app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503, ready.body);
  t.equal(ready.json().queue.full, true);
});
