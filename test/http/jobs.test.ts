import t from 'tap';
import { sniffImage } from '../../src/images/sniff.js';
import { pngBase64, sleep, startService, until } from '../helpers/service.js';

interface JobView {
  id: string;
  state: string;
  progress: number;
  step: number;
  steps: number;
  queue_position: number | null;
  error: { status: number; message: string } | null;
}

t.test('POST /jobs answers 202; GET shows progress; the result is the PNG', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 40 });
  t.teardown(() => service.close());
  const created = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 10 } });
  t.equal(created.statusCode, 202);
  const job = created.json() as JobView;
  t.equal(created.headers.location, `/jobs/${job.id}`);
  t.ok(['queued', 'running'].includes(job.state));
  let sawProgress = false;
  await until(async () => {
    const view = (await service.app.inject({ url: `/jobs/${job.id}` })).json() as JobView;
    if (view.state === 'running' && view.step > 0 && view.progress > 0 && view.progress < 1 && view.steps === 10) sawProgress = true;
    return view.state === 'succeeded';
  });
  t.ok(sawProgress, 'a running job reported step i/10 and progress in (0, 1)');
  const done = (await service.app.inject({ url: `/jobs/${job.id}` })).json() as JobView;
  t.same([done.progress, done.step], [1, 10]);
  const result = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(result.headers['content-type'], 'image/png');
  t.same(sniffImage(result.rawPayload), { format: 'png', width: 128, height: 96 });
});

t.test('the result of an unfinished job is a 409; unknown ids are 404, malformed ids 400', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 50 });
  t.teardown(() => service.close());
  const job = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } })).json() as JobView;
  const early = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(early.statusCode, 409);
  t.match(early.json().message, /is (queued|running); the result is ready when/);
  t.equal((await service.app.inject({ url: '/jobs/00000000-0000-4000-8000-000000000000' })).statusCode, 404);
  t.equal((await service.app.inject({ url: '/jobs/not-a-uuid' })).statusCode, 400);
});

t.test('cancel mid-job interrupts A1111; cancel while queued never reaches it', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 40 });
  t.teardown(() => service.close());
  const fake = service.fakes[0]!;
  const running = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 50, seed: 1 } })).json() as JobView;
  const queued = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 50, seed: 2 } })).json() as JobView;
  await until(async () => ((await service.app.inject({ url: `/jobs/${running.id}` })).json() as JobView).step > 1);
  t.equal(((await service.app.inject({ url: `/jobs/${queued.id}` })).json() as JobView).queue_position, 1);

  const cancelQueued = await service.app.inject({ method: 'DELETE', url: `/jobs/${queued.id}` });
  t.equal(cancelQueued.statusCode, 202);
  t.equal((cancelQueued.json() as JobView).state, 'cancelled');
  await service.app.inject({ method: 'DELETE', url: `/jobs/${running.id}` });
  await until(async () => ((await service.app.inject({ url: `/jobs/${running.id}` })).json() as JobView).state === 'cancelled');
  await until(() => fake.interruptCount > 0);
  t.equal(fake.interruptCount, 1, 'A1111 was interrupted once');
  t.same(fake.received.map((p) => p['seed']), [1], 'the queued job never reached A1111');
  const result = await service.app.inject({ url: `/jobs/${running.id}/result` });
  t.equal(result.statusCode, 409);
  t.match(result.json().message, /was cancelled/);
});

t.test('one job at a time per instance, in submission order; two instances share the queue', async (t) => {
  const single = await startService({ companion: true, stepDelayMs: 5 });
  t.teardown(() => single.close());
  const seeds = [11, 12, 13, 14];
  const jobs = await Promise.all(seeds.map(async (seed) => (await single.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 4, seed } })).json() as JobView));
  await until(async () => (await Promise.all(jobs.map(async (j) => ((await single.app.inject({ url: `/jobs/${j.id}` })).json() as JobView).state))).every((s) => s === 'succeeded'));
  t.same(single.fakes[0]!.received.map((p) => p['seed']), seeds, 'A1111 saw the jobs in submission order');
  t.equal(single.fakes[0]!.maxConcurrent, 1);

  const pair = await startService([{ companion: true, stepDelayMs: 20 }, { companion: true, stepDelayMs: 20 }]);
  t.teardown(() => pair.close());
  await Promise.all([1, 2, 3, 4].map((seed) => pair.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 5, seed } })));
  t.same(pair.fakes.map((f) => f.received.length), [2, 2], 'both instances worked');
  t.same(pair.fakes.map((f) => f.maxConcurrent), [1, 1], 'never two jobs on one instance');
});

t.test('finished results expire after RESULT_TTL_SECONDS', async (t) => {
  const service = await startService({ companion: true }, { RESULT_TTL_SECONDS: '0.3' });
  t.teardown(() => service.close());
  const job = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 2 } })).json() as JobView;
  await until(async () => ((await service.app.inject({ url: `/jobs/${job.id}` })).json() as JobView).state === 'succeeded');
  t.equal((await service.app.inject({ url: `/jobs/${job.id}/result` })).statusCode, 200);
  await sleep(500);
  const gone = await service.app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(gone.statusCode, 404);
  t.match(gone.json().message, /not found \(unknown, finished more than RESULT_TTL_SECONDS ago/);
});

t.test('SSE: state, progress with steps, then done; a failed job ends with failed', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 30 });
  t.teardown(() => service.close());
  const job = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 8 } })).json() as JobView;
  const stream = await service.app.inject({ url: `/jobs/${job.id}/events` });
  t.equal(stream.headers['content-type'], 'text/event-stream');
  const events = stream.body.split('\n\n').filter((block) => block.startsWith('event:')).map((block) => {
    const [typeLine, dataLine] = block.split('\n');
    return { type: typeLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown> };
  });
  t.equal(events[0]!.type, 'state');
  const progress = events.filter((e) => e.type === 'progress');
  t.ok(progress.length > 0, `${progress.length} progress events`);
  t.ok(progress.every((e) => e.data['steps'] === 8 && (e.data['step'] as number) <= 8));
  t.equal(events[events.length - 1]!.type, 'done');

  service.fakes[0]!.failNext = { status: 500, body: { error: 'RuntimeError', errors: 'boom' } };
  const failing = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 2 } })).json() as JobView;
  const failedStream = await service.app.inject({ url: `/jobs/${failing.id}/events` });
  t.match(failedStream.body, /event: failed\ndata: .*RuntimeError: boom/);
});

t.test('a full queue answers 503 and readyz reports it', async (t) => {
  const service = await startService({ companion: true, stepDelayMs: 100 }, { MAX_QUEUE: '1' });
  t.teardown(() => service.close());
  await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } });
  await until(() => service.fakes[0]!.received.length === 1);
  t.equal((await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } })).statusCode, 202);
  const full = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 20 } });
  t.equal(full.statusCode, 503);
  t.match(full.json().message, /the queue is full \(1 jobs waiting, MAX_QUEUE\)/);
  const ready = await service.app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.equal(ready.json().queue.full, true);
});
