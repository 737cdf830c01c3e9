import t from 'tap';
import type { BackendSnapshot, ModelView, WorkSpec } from '../../../src/backends/backend.js';
import { OnnxBackend } from '../../../src/backends/onnx/backend.js';
import { ONNX_RULES } from '../../../src/backends/onnx/rules.js';
import { BackendError } from '../../../src/errors.js';
import { mergeFleet, type Heartbeat } from '../../../src/jobs/redis/fleet.js';
import { samplerNamed } from '../../../src/samplers/catalog.js';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/session-pool.js';
import { modelsFolder } from '../../helpers/models.js';

t.test('the load log names each model\'s family, prediction and VAE decode precision, and warns of an fp16 SDXL VAE', async (t) => {
  const folder = await modelsFolder(t, { half: { precision: 'fp16' }, xl: { family: 'sdxl', prediction: 'v' }, xlHalf: { family: 'sdxl', precision: 'fp16' } });
  const lines: string[] = [];
  const backend = new OnnxBackend({ modelsDir: folder, tiles: { tile: 64, overlap: 8 }, concurrency: 1, warmup: false, log: (line) => lines.push(line), cacheDir: `${folder}/.cache`, cachePrecision: 'fp16' }, DEFAULT_ENGINE_OPTIONS);
  t.teardown(() => backend.stop());
  await backend.start();
  const line = (name: string): string => lines.find((l) => l.startsWith(`onnx: model '${name}'`)) ?? '';
  t.match(line('half'), /^onnx: model 'half' \(SD 1\.x, eps-prediction\) runs on cpu \(float16, .*VAE decodes in float16, VAE scale 0\.18215\)$/, 'fp16 SD 1.x: no warning');
  t.match(line('xl'), /^onnx: model 'xl' \(SDXL, v-prediction\) runs on cpu \(float32, .*VAE decodes in float32, VAE scale 0\.13025\)$/);
  t.match(line('xlHalf'), /VAE decodes in float16, VAE scale 0\.13025\); the SDXL VAE overflows in float16 \(decodes fail with inf\/NaN\): use an fp32 VAE export or madebyollin's sdxl-vae-fp16-fix$/);
});

t.test('a job for a model whose checkpoint is still converting is refused with 503 and the reason; other models still run', async (t) => {
  const loaded = { name: 'ready', family: 'sd1', max_clip_skip: 1 } as unknown as ModelView;
  const snapshot: BackendSnapshot = {
    backend: 'onnx', units: [], models: [loaded],
    modelErrors: [{ name: 'big', error: 'being converted from big.safetensors (first start only; progress in the log)', pending: true }],
  };
  const work = (model: string) => ({ model, clipSkip: 1, sampler: samplerNamed('euler') }) as unknown as WorkSpec;
  const refusal = ONNX_RULES.refusal(snapshot, work('big'));
  t.ok(refusal instanceof BackendError && refusal.status === 503, 'a 503');
  t.equal(refusal?.message, "model 'big' is not ready: being converted from big.safetensors (first start only; progress in the log)");
  t.equal(ONNX_RULES.refusal(snapshot, work('ready')), undefined);
  t.match(ONNX_RULES.refusal(snapshot, work('other'))?.message, /unknown model 'other' \(allowed: ready\)/);
});

t.test('in Redis mode too: a model still converting on a worker is a 503, though the fleet prefixes the name with the worker', async (t) => {
  const worker = { backend: 'onnx', units: [], models: [], modelErrors: [{ name: 'big', error: 'being converted from big.safetensors', pending: true }] } satisfies BackendSnapshot;
  const other = { backend: 'onnx', units: [], models: [{ name: 'ready', family: 'sd1', max_clip_skip: 1 } as unknown as ModelView], modelErrors: [] } satisfies BackendSnapshot;
  const [fleet] = mergeFleet([{ worker: 'w1', backends: [worker] }, { worker: 'w2', backends: [other] }] as unknown as Heartbeat[]);
  t.equal(fleet!.modelErrors[0]!.name, 'w1: big');
  const refusal = ONNX_RULES.refusal(fleet!, { model: 'big', clipSkip: 1, sampler: samplerNamed('euler') } as unknown as WorkSpec);
  t.ok(refusal instanceof BackendError && refusal.status === 503);
  t.equal(refusal?.message, "model 'big' is not ready: being converted from big.safetensors");
});
