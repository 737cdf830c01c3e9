import t, { type Test } from 'tap';
import { request } from 'undici';
import { loadConfig } from '../../src/config.js';
import type { FakeA1111 } from '../fakes/fake-a1111.js';
import { pngBase64, startService, until, type Harness } from '../helpers/service.js';

// A1111_QUEUE_DEPTH=2: the next job waits at A1111's own queue behind the running one, against fake A1111
// servers that generate one job at a time (their queue lock) and honour /interrupt for the running job only.

interface JobView { id: string; state: string; step: number; parameters?: { ran_on?: string } }

const DEPTH_2 = { A1111_QUEUE_DEPTH: '2' };

async function submit(service: Harness, steps: number, seed: number): Promise<JobView> {
  return (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps, seed } })).json() as JobView;
}

async function view(service: Harness, id: string): Promise<JobView> {
  return (await service.app.inject({ url: `/jobs/${id}` })).json() as JobView;
}

/** Holds the first job that reaches `step` until `release`. */
function holdAt(fake: FakeA1111, step: number): { release(): void } {
  fake.holdAfterStep = step;
  return {
    release() {
      fake.holdAfterStep = undefined;
      fake.behaviour.hang = false;
    },
  };
}

/** One fake A1111 behind a service with A1111_QUEUE_DEPTH=2, holding the first job that reaches step 2. */
async function startHeld(t: Test, stepDelayMs: number): Promise<{ service: Harness; fake: FakeA1111; hold: { release(): void } }> {
  const service = await startService({ companion: true, stepDelayMs }, DEPTH_2);
  const fake = service.fakes[0]!;
  const hold = holdAt(fake, 2);
  t.teardown(async () => {
    hold.release();
    await service.close();
  });
  return { service, fake, hold };
}

t.test('the next job is sent while one generates and waits at A1111; a third waits in the service; A1111 runs them in order', async (t) => {
  const { service, fake, hold } = await startHeld(t, 5);
  const jobs = [await submit(service, 4, 1), await submit(service, 4, 2), await submit(service, 4, 3)];
  await until(() => fake.received.length === 2);
  t.same(fake.jobCountsOnArrival, [0, 1], 'the second job arrived while the first generated');
  t.equal((await view(service, jobs[2]!.id)).state, 'queued', 'the third waits in the service: two at A1111 at most');
  hold.release();
  await until(async () => (await Promise.all(jobs.map((job) => view(service, job.id)))).every((job) => job.state === 'succeeded'));
  t.same(fake.received.map((body) => body['seed']), [1, 2, 3], 'sent in submission order');
  t.equal(fake.maxConcurrent, 1);
  t.equal(fake.interruptCount, 0);
});

t.test('cancelling the job that waits at A1111: cancelled at once, the running job is not interrupted, the waiting one is once it runs', async (t) => {
  const { service, fake, hold } = await startHeld(t, 20);
  const running = await submit(service, 4, 1);
  // Long enough that the service sees it generating before it would end by itself.
  const waiting = await submit(service, 500, 2);
  const next = await submit(service, 3, 3);
  await until(() => fake.received.length === 2);
  t.equal((await service.app.inject({ method: 'DELETE', url: `/jobs/${waiting.id}` })).statusCode, 202);
  await until(async () => (await view(service, waiting.id)).state === 'cancelled');
  t.equal(fake.interruptCount, 0, 'no /interrupt while the first job runs: it would stop that one');
  t.equal((await view(service, running.id)).state, 'running');
  t.equal((await view(service, next.id)).state, 'queued', 'nothing new is sent behind a cancelled job that A1111 will still run');

  hold.release();
  await until(async () => (await view(service, next.id)).state === 'succeeded');
  t.equal((await view(service, running.id)).state, 'succeeded');
  t.equal(fake.interruptCount, 1, 'the cancelled job was interrupted once it ran');
  t.ok(fake.progress.sampling_step < 500, `it stopped at step ${fake.progress.sampling_step} of 500`);
  t.same(fake.received.map((body) => body['seed']), [1, 2, 3]);
});

t.test('cancelling the running job interrupts it; the job waiting behind it then runs and succeeds', async (t) => {
  const { service, fake, hold } = await startHeld(t, 5);
  const running = await submit(service, 4, 1);
  const waiting = await submit(service, 4, 2);
  await until(() => fake.received.length === 2);
  await service.app.inject({ method: 'DELETE', url: `/jobs/${running.id}` });
  await until(() => fake.interruptCount === 1);
  hold.release();
  await until(async () => (await view(service, waiting.id)).state === 'succeeded');
  t.equal((await view(service, running.id)).state, 'cancelled');
  t.equal(fake.interruptCount, 1);
});

t.test('nothing is sent behind a job that is not seen generating as ours (someone else\'s job was running as it was sent)', async (t) => {
  const { service, fake, hold } = await startHeld(t, 5);
  // Another client's job, held at step 2: ours is sent behind it, so what /progress shows is not ours.
  const foreign = request(`${fake.url}/sdapi/v1/img2img`, { method: 'POST', body: JSON.stringify({ init_images: [pngBase64()], steps: 4, width: 64, height: 48 }), headers: { 'content-type': 'application/json' } });
  await until(() => fake.progress.sampling_step === 2);
  const first = await submit(service, 4, 1);
  const second = await submit(service, 4, 2);
  await until(() => fake.received.length === 2);
  const polled = fake.progressReads;
  await until(() => fake.progressReads >= polled + 4);
  t.equal(fake.received.length, 2, 'the second job was not sent behind the first');
  t.equal((await view(service, second.id)).state, 'queued');
  hold.release();
  t.equal((await foreign).statusCode, 200);
  await until(async () => (await view(service, second.id)).state === 'succeeded');
  t.equal((await view(service, first.id)).state, 'succeeded');
  t.same(fake.received.map((body) => body['seed'] ?? 'foreign'), ['foreign', 1, 2]);
});

t.test('with two instances, a job goes to an idle one before it waits behind a running one', async (t) => {
  const service = await startService([{ companion: true, stepDelayMs: 5 }, { companion: true, stepDelayMs: 5 }], DEPTH_2);
  const [first, second] = service.fakes;
  const hold = holdAt(first!, 2);
  const holdSecond = holdAt(second!, 2);
  t.teardown(async () => {
    hold.release();
    holdSecond.release();
    await service.close();
  });
  await submit(service, 4, 1);
  await until(() => first!.received.length === 1);
  await submit(service, 4, 2);
  await until(() => second!.received.length === 1);
  t.equal(first!.received.length, 1, 'the second job went to the idle instance');
  await until(() => first!.progress.sampling_step === 2 && second!.progress.sampling_step === 2);
  const third = await submit(service, 4, 3);
  await until(() => first!.received.length + second!.received.length === 3);
  hold.release();
  holdSecond.release();
  await until(async () => (await view(service, third.id)).state === 'succeeded');
});

t.test('A1111_QUEUE_DEPTH takes 1 or 2', async (t) => {
  t.throws(() => loadConfig({ A1111_QUEUE_DEPTH: '3' }), /A1111_QUEUE_DEPTH/);
  t.equal(loadConfig({}).a1111QueueDepth, 1, 'one job at a time unless asked');
});
