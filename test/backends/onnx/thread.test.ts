import { join } from 'node:path';
import t from 'tap';
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

t.test('a thread that dies mid-job fails it with 503 and a reason; the next job gets a fresh thread', async (t) => {
  const thread = new PipelineThread({ engine: DEFAULT_ENGINE_OPTIONS, tiles: { tile: 64, overlap: 8 } });
  t.teardown(() => thread.close());
  await thread.load('tiny', folder, false);
  const run = thread.run('tiny', folder, request({ steps: 20 }), { onStep: (step) => void (step === 1 && thread.close()) }, never);
  const failed = await run.catch((error: unknown) => error);
  t.ok(failed instanceof BackendError, 'a BackendError');
  t.match(failed, { code: 'BACKEND_UNAVAILABLE', status: 503, message: /^the onnx pipeline thread stopped \(exit code 1\); the job did not finish \(submit it again\)$/ });
  t.equal((await thread.run('tiny', folder, request(), {}, never)).width, 64, 'a new thread loads the model again and runs');
});
