import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Backend, Lease, UpscaleWork } from '../../src/backends/backend.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { newRecord } from '../../src/jobs/job.js';
import { MemoryTransport } from '../../src/jobs/memory/transport.js';
import { samplerNamed } from '../../src/samplers/catalog.js';

// A finished job keeps its record and (within RESULT_STORE_MB) its result, but not its input: only a
// waiting or running job needs that. The check is the input's collection once nothing else holds it.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const lease: Lease = { ranOn: 'unit', run: async () => ({ png: encodeRgbPng(2, 2, () => [1, 2, 3]), seed: 1, ranOn: 'unit' }) };
const backend: Backend = {
  name: 'a1111', slots: 1, capacity: () => 1, snapshot: () => ({ backend: 'a1111', units: [], models: [], modelErrors: [] }),
  acquire: () => lease, onChange: () => undefined, start: async () => undefined, stop: async () => undefined,
};

function work(image: Uint8Array): UpscaleWork {
  return {
    image, input: { format: 'png', width: 8, height: 8 }, width: 16, height: 16, method: 'nearest-exact', scheduler: 'simple',
    steps: 2, denoise: 0.5, fixSteps: true, sampler: samplerNamed('euler'), cfgScale: 7, seed: 1, prompt: '', negativePrompt: '', clipSkip: 1, preview: { mode: 'off', every: 1 },
  };
}

t.test('a finished job lets its input go, and keeps its record and result', async (t) => {
  const transport = new MemoryTransport(new Map([['a1111', backend]]), { resultTtlMs: 60_000, resultStoreBytes: 1 << 20 });
  t.teardown(() => transport.close());
  const record = newRecord('job-1', 'a1111', work(new Uint8Array(0)), {});
  const ended = new Promise<void>((resolve) => transport.watch(record.id, () => void transport.get(record.id).then((now) => now?.state === 'succeeded' && resolve())));
  // Only the transport holds the work and its input from here on.
  const held = await (async () => {
    const input = new Uint8Array(4 << 20);
    await transport.add({ record, work: work(input) }, 10);
    return new WeakRef(input);
  })();
  await ended;
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  t.ok(held.deref() === undefined, 'the 4 MB input was collected');
  t.equal((await transport.get(record.id))?.state, 'succeeded');
  t.ok((await transport.result(record.id))?.png.length, 'the result is still there');
});
