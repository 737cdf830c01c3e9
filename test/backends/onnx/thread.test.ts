import { join } from 'node:path';
import t from 'tap';
import type { Worker } from 'node:worker_threads';
import { PipelineThread } from '../../../src/backends/onnx/thread.js';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/session-pool.js';
import { BackendError, UserError } from '../../../src/errors.js';
import type { Img2imgRequest } from '../../../src/pipeline/img2img.js';
import { modelsFolder } from '../../helpers/models.js';

// The pipeline thread (src/backends/onnx/thread.ts, pipeline-thread.ts) against a real worker thread and a
// generated model: results and hooks come back, and every way a job ends early ends it with a reason.

const folder = join(await modelsFolder(t, { tiny: {} }), 'tiny');
const request = (overrides: Partial<Img2imgRequest> = {}): Img2imgRequest => ({
  image: { width: 32, height: 32, pixels: new Uint8Array(32 * 32 * 3).map((_, i) => (i * 7) % 256) }, width: 64, height: 64,
  method: 'nearest-exact', scheduler: 'karras', steps: 3, denoise: 0.5, fixSteps: true, sampler: 'euler', cfgScale: 5, seed: 3,
  prompt: 'a photo', negativePrompt: '', clipSkip: 1, ...overrides,
});
const never = new AbortController().signal;

t.test('load reports the model, a run gives the image and every hook, in order', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  const facts = await thread.load('tiny', folder, false);
  t.match(facts, { name: 'tiny', family: 'sd1', provider: 'cpu' });
  const events: string[] = [];
  const output = await thread.run('tiny', folder, request(), {
    onSampling: () => events.push('sampling'),
    onStep: (step, steps) => void events.push(`step ${step}/${steps}`),
    onStage: (stage) => void events.push(stage),
  }, never);
  t.same([output.width, output.height, output.pixels.length], [64, 64, 64 * 64 * 3]);
  t.same(events, ['encode', 'upscale', 'sampling', 'step 1/3', 'step 2/3', 'step 3/3', 'sampling', 'decode']);
});

t.test('a service error keeps its class and code across the thread; the thread serves the next job', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  const failed = await thread.run('tiny', folder, request({ method: 'sideways' }), {}, never).catch((error: unknown) => error);
  t.ok(failed instanceof UserError, 'a UserError');
  t.match(failed, { code: 'UNKNOWN_METHOD', message: /method.*sideways/ });
  t.equal((await thread.run('tiny', folder, request(), {}, never)).width, 64);
});

// The cancel message follows the run message into the thread, which reads it while the model loads
// (file reads), so the run stops before its first step whatever the timing.
t.test('a cancel stops the run in the thread with the signal\'s reason; the thread serves the next job', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  const cancel = new AbortController();
  const reason = new UserError('cancelled', 'JOB_CANCELLED');
  const events: string[] = [];
  const run = thread.run('tiny', folder, request({ steps: 20 }), { onSampling: () => events.push('sampling'), onStep: (step) => void events.push(`step ${step}`) }, cancel.signal);
  cancel.abort(reason);
  t.equal(await run.catch((error: unknown) => error), reason);
  t.same(events, [], 'no step ran');
  t.equal((await thread.run('tiny', folder, request(), {}, never)).height, 64, 'the next job runs');
});

t.test('a cancel that reaches the thread after its last step still ends the run with the signal\'s reason', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  const cancel = new AbortController();
  const reason = new UserError('cancelled', 'JOB_CANCELLED');
  const run = thread.run('tiny', folder, request({ steps: 3 }), { onStep: (step, steps) => void (step === steps && cancel.abort(reason)) }, cancel.signal);
  t.equal(await run.catch((error: unknown) => error), reason);
});

// Killed the way a bug in it would kill it: a message it cannot read throws outside any job (an uncaught
// error ends a worker). The thread reads it between two steps, in JavaScript, where ending is safe.
t.test('a thread that dies mid-job fails it with 503 and a reason; the next job gets a fresh thread', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  await thread.load('tiny', folder, false);
  const kill = (): void => (thread as unknown as { worker: Worker }).worker.postMessage(null);
  const steps: number[] = [];
  const run = thread.run('tiny', folder, request({ steps: 20 }), { onStep: (step) => void (steps.push(step), step === 1 && kill()) }, never);
  const failed = await run.catch((error: unknown) => error);
  t.ok(failed instanceof BackendError, 'a BackendError');
  t.match(failed, { code: 'BACKEND_UNAVAILABLE', status: 503, message: /^the onnx pipeline thread stopped: Cannot read properties of null .*; the job did not finish \(submit it again\)$/ });
  t.ok(steps.length < 20, `it died mid-job (${steps.length} of 20 steps ran)`);
  t.equal((await thread.run('tiny', folder, request(), {}, never)).width, 64, 'a new thread loads the model again and runs');
});

// Terminating the thread inside a native call aborted the whole process now and then ("terminate called
// after throwing an instance of 'Napi::Error'", about one in six closes at a step of a 512² job): closing
// lets the running step return, then fails the job with a reason. Ten closes mid-job, each at a step.
t.test('close mid-job fails the job with 503 and a reason once its step returns, and the process lives on', async (t) => {
  for (let attempt = 0; attempt < 10; attempt++) {
    const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 512, overlap: 8 } });
    await thread.load('tiny', folder, false);
    let closed: Promise<void> | undefined;
    const run = thread.run('tiny', folder, request({ width: 512, height: 512, steps: 20 }), { onStep: (step) => void (step === 1 && (closed = thread.close())) }, never);
    const failed = await run.catch((error: unknown) => error);
    t.match(failed, { code: 'BACKEND_UNAVAILABLE', status: 503, message: /^the service is stopping: the onnx pipeline thread was closed; the job did not finish \(submit it again\)$/ }, `close ${attempt + 1}`);
    await closed;
  }
});

t.test('a job asked for while the thread closes fails at once with the shutdown reason; the close completes', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  await thread.load('tiny', folder, false);
  const closed = thread.close();
  const late = await thread.run('tiny', folder, request(), {}, never).catch((error: unknown) => error);
  t.match(late, { code: 'BACKEND_UNAVAILABLE', status: 503, message: /^the service is stopping: the onnx pipeline thread was closed/ });
  await closed;
  t.equal((await thread.run('tiny', folder, request(), {}, never)).width, 64, 'once closed, a job starts a fresh thread');
});

t.test('close while a model loads lets the load finish, then the thread ends; a later job starts a fresh one', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  const loading = thread.load('tiny', folder, true);
  await thread.close();
  t.match(await loading, { name: 'tiny', family: 'sd1' }, 'the load in flight finished');
  t.equal((await thread.run('tiny', folder, request(), {}, never)).width, 64);
});
