import t from 'tap';
import type { Lease, UpscaleWork } from '../../src/backends/backend.js';
import { BackendError } from '../../src/errors.js';
import { newRecord, type JobRecord } from '../../src/jobs/job.js';
import { runAttempt, type JobObserver } from '../../src/jobs/runner.js';
import { samplerNamed } from '../../src/samplers/catalog.js';

const work: UpscaleWork = {
  image: new Uint8Array(), input: { format: 'png', width: 8, height: 8 }, width: 16, height: 16, method: 'nearest-exact', scheduler: 'simple',
  steps: 2, denoise: 0.5, fixSteps: true, sampler: samplerNamed('euler'), cfgScale: 7, seed: 1, prompt: '', negativePrompt: '', clipSkip: 1, preview: { mode: 'off', every: 1 },
};
const record = newRecord('job-1', 'a1111', work, {});

function observed(): { observer: JobObserver; bugs: [JobRecord, unknown][] } {
  const bugs: [JobRecord, unknown][] = [];
  return { observer: { ended: () => undefined, stage: () => undefined, bug: (job, error) => bugs.push([job, error]) }, bugs };
}

const failingWith = (error: Error): Lease => ({ ranOn: 'unit', run: () => Promise.reject(error) });

t.test('a bug inside a job fails it as INTERNAL_ERROR without its message, and the observer gets the error for the log', async (t) => {
  const { observer, bugs } = observed();
  const bug = new TypeError("Cannot read properties of undefined (reading 'secret internals')");
  const outcome = await runAttempt(failingWith(bug), { record, work }, new AbortController().signal, () => undefined, observer);
  t.match(outcome, { kind: 'failed', unitFault: false, error: { status: 500, code: 'INTERNAL_ERROR', message: 'internal error while running the job; see the service log' } });
  t.notMatch(JSON.stringify(outcome), /secret internals/, 'the answer does not carry it');
  t.equal(bugs.length, 1);
  t.equal(bugs[0]![0].id, 'job-1');
  t.equal(bugs[0]![1], bug, 'the log gets the error itself, stack and all');
});

t.test('a service error keeps its code and message, and is no bug', async (t) => {
  const { observer, bugs } = observed();
  const outcome = await runAttempt(failingWith(new BackendError('A1111 at http://a is unreachable (ECONNREFUSED)', 'BACKEND_UNAVAILABLE')), { record, work }, new AbortController().signal, () => undefined, observer);
  t.match(outcome, { kind: 'failed', unitFault: true, error: { status: 503, code: 'BACKEND_UNAVAILABLE', message: /unreachable/ } });
  t.equal(bugs.length, 0);
});
