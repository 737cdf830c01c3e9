import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { writeTestCheckpoint } from '../../src/convert/test-checkpoint.js';
import { buildApp } from '../../src/http/app.js';
import { getPngText } from '../../src/images/png.js';
import { writeTestModel } from '../../src/models/test-model.js';
import { pngBase64, until } from '../helpers/service.js';
import { temporaryFolder } from '../helpers/temporary.js';

// MODELS_DIR as an A1111 models/Stable-diffusion folder: single-file checkpoints beside model folders.
const models = await temporaryFolder(t, 'checkpoints');
writeTestCheckpoint(join(models, 'my-sdxl.safetensors'), { family: 'sdxl', size: 'tiny', precision: 'fp16', seed: 5 });
await writeFile(join(models, 'half-downloaded.safetensors'), Buffer.alloc(100));
await writeTestModel(join(models, 'exported'), {});
const cache = await temporaryFolder(t, 'checkpoint-cache');
const app = await buildApp(loadConfig({ MODELS_DIR: models, MODELS_CACHE_DIR: cache, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
await app.ready();
t.teardown(() => app.close());

type Listing = { models: { name: string; family: string }[]; errors: { name: string; error: string; pending?: boolean }[] };
const listing = async (): Promise<Listing> => (await app.inject({ url: '/models' })).json() as Listing;

t.test('a checkpoint in MODELS_DIR is converted in the background and served under its file name; a bad one is reported', async (t) => {
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the service answers while it converts');
  // Three entries in all once both checkpoints are through: the exported folder, the converted file, the broken one.
  await until(async () => {
    const { models: loaded, errors } = await listing();
    return loaded.length + errors.filter((e) => !e.pending).length === 3;
  }, 60_000);
  const listed = await listing();
  t.same(listed.models.map((m) => [m.name, m.family]).sort(), [['exported', 'sd1'], ['my-sdxl', 'sdxl']]);
  t.equal(listed.errors.length, 1);
  t.equal(listed.errors[0]!.name, 'half-downloaded');
  t.match(listed.errors[0]!.error, /half-downloaded\.safetensors: not a safetensors file/);
});

t.test('the converted SDXL model upscales end to end, named in the infotext', async (t) => {
  const response = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(48, 32), scale: 2, steps: 2, seed: 3, model: 'my-sdxl', prompt: 'a boat' } });
  t.equal(response.statusCode, 200, response.body);
  t.match(getPngText(response.rawPayload, 'parameters'), /^a boat\nSteps: 2, .*Size: 96x64, Model: my-sdxl, /);
  const skip = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(48, 32), steps: 2, model: 'my-sdxl', clip_skip: 2 } });
  t.equal(skip.statusCode, 422);
  t.match(skip.json().message, /clip_skip/);
});
