import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { startFakeA1111Process } from '../helpers/processes.js';
import { modelsFolder } from '../helpers/models.js';
import { parseSse, pngBase64, readJob, readSse, startService, submitJob, until, type SseEvent } from '../helpers/service.js';

// What jobs give back besides the image: SSE events in the same snake_case as the job JSON, an ETA from
// the onnx backend too, the model that ran, and a DELETE that says when there is nothing left to cancel.

interface JobView { id: string; state: string; progress: number; eta_seconds: number | null; parameters: Record<string, unknown> }

const fake = await startFakeA1111Process({ companion: true });
t.teardown(() => fake.kill());
const a1111 = await startService([], {}, () => fake.url);
t.teardown(() => a1111.close());
const address = await a1111.app.listen({ port: 0, host: '127.0.0.1' });

const submit = (steps = 3): Promise<JobView> => submitJob<JobView>(a1111.app, { steps });
const view = (id: string): Promise<JobView> => readJob<JobView>(a1111.app, id);
const ended = (id: string): Promise<void> => until(async () => ['succeeded', 'failed', 'cancelled'].includes((await view(id)).state), 10_000);

t.test('DELETE of a finished job answers 409 JOB_FINISHED naming its state, and leaves it as it was', async (t) => {
  const succeeded = await submit();
  await ended(succeeded.id);

  await fake.setBehaviour({ failAlways: { status: 500, body: { error: 'RuntimeError', errors: 'boom' } } });
  const failed = await submit();
  await ended(failed.id);
  await fake.setBehaviour({ failAlways: undefined });

  // A job cancelled while it waits behind one that holds the (hung) instance.
  await fake.setBehaviour({ hang: true });
  const holder = await submit();
  await until(async () => (await view(holder.id)).state === 'running');
  const cancelled = await submit();
  t.equal((await a1111.app.inject({ method: 'DELETE', url: `/jobs/${cancelled.id}` })).statusCode, 202, 'cancelling a queued job is still a 202');
  t.equal((await a1111.app.inject({ method: 'DELETE', url: `/jobs/${holder.id}` })).statusCode, 202, 'and so is cancelling a running one');
  await ended(holder.id);
  await fake.setBehaviour({ hang: false });

  for (const [job, state] of [[succeeded, 'succeeded'], [failed, 'failed'], [cancelled, 'cancelled'], [holder, 'cancelled']] as const) {
    t.equal((await view(job.id)).state, state);
    const again = await a1111.app.inject({ method: 'DELETE', url: `/jobs/${job.id}` });
    t.equal(again.statusCode, 409, state);
    t.same(again.json(), {
      statusCode: 409, code: 'JOB_FINISHED', error: 'Conflict',
      message: `job ${job.id} has already ended (${state}); only a queued or running job can be cancelled`,
    });
    t.equal((await view(job.id)).state, state, 'unchanged');
  }
  t.equal((await a1111.app.inject({ url: `/jobs/${succeeded.id}/result` })).statusCode, 200, 'the result is still there');
});

t.test('SSE data is snake_case like the job JSON: progress carries eta_seconds, running carries ran_on', async (t) => {
  await fake.setBehaviour({ hang: true });
  const holder = await submit();
  await until(async () => (await view(holder.id)).state === 'running');
  const followed = await submit();
  let attached = (): void => undefined;
  const following = new Promise<void>((resolve) => (attached = resolve));
  const stream = readSse(`${address}/jobs/${followed.id}/events`, (event) => event.type === 'state' && attached());
  await following;
  // Cancelling the holder frees the instance for the followed job, whose call then waits behind the hung
  // generation: its progress polls read that generation at 1 %, a change from 0 it is sure to be told of.
  await a1111.app.inject({ method: 'DELETE', url: `/jobs/${holder.id}` });
  await until(async () => (await view(followed.id)).progress > 0);
  await fake.setBehaviour({ hang: false });
  const events = await stream;

  t.same(events.map((e) => e.type).filter((type, i, all) => all.indexOf(type) === i), ['state', 'running', 'progress', 'done']);
  t.equal(events.find((e) => e.type === 'running')!.data['ran_on'], fake.url);
  const progress = events.filter((e) => e.type === 'progress');
  t.same(progress.map((e) => Object.keys(e.data)), progress.map(() => ['type', 'progress', 'step', 'steps', 'eta_seconds']), `${progress.length} progress events`);
  t.ok(progress.every((e) => typeof e.data['eta_seconds'] === 'number'), 'each with A1111\'s eta_relative');
  t.match(events.at(-1)!.data, { state: 'succeeded', ran_on: fake.url, eta_seconds: null }, 'the job JSON as GET shows it');
});

t.test('onnx jobs: eta_seconds on every step, counting the decode once the model has decoded; the default model is named', async (t) => {
  const root = await modelsFolder(t, { alpha: {}, beta: {} });
  const app = await buildApp(loadConfig({ MODELS_DIR: root, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
  await app.ready();
  t.teardown(() => app.close());
  const run = async (): Promise<{ job: JobView; progress: SseEvent[] }> => {
    const { id } = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 4, seed: 1 } })).json() as JobView;
    const progress = parseSse((await app.inject({ url: `/jobs/${id}/events` })).body).filter((e) => e.type === 'progress');
    return { job: (await app.inject({ url: `/jobs/${id}` })).json() as JobView, progress };
  };

  const first = await run();
  t.same(first.progress.map((e) => `${e.data['step']}/${e.data['steps']}`), ['1/4', '2/4', '3/4', '4/4']);
  const firstEtas = first.progress.map((e) => e.data['eta_seconds'] as number);
  t.ok(firstEtas.slice(0, 3).every((eta) => eta > 0), `steps left, so time left: ${firstEtas.join(', ')}`);
  t.equal(firstEtas[3], 0, 'after the last step of the model\'s first job: no steps left, and no decode timed yet');
  t.equal(first.job.state, 'succeeded');
  t.equal(first.job.parameters['model'], 'alpha', 'the request named no model: the job names the one that ran');

  const second = await run();
  const lastEta = second.progress.at(-1)!.data['eta_seconds'] as number;
  t.equal(second.progress.at(-1)!.data['step'], 4);
  t.ok(lastEta > 0, `after the last step the decode is still ahead: ${lastEta} s, from the first job's decode`);
});
