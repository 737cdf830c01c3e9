import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SessionPool } from '../../src/engine/session-pool.js';
import { findModels, loadModel } from '../../src/models/loader.js';
import { modelsFolder, VARIANTS } from '../helpers/models.js';

const root = await modelsFolder(VARIANTS);
const pool = new SessionPool();
t.teardown(() => pool.release());

t.test('every export variant loads, with its I/O types read from the files', async (t) => {
  t.same(await findModels(root), ['external', 'fp16', 'optimum', 'tiny']);
  const expected: Record<string, [string, string, string]> = {
    tiny: ['float32', 'float32', 'latent_sample'],
    fp16: ['float16', 'float16', 'latent_sample'],
    optimum: ['float32', 'int64', 'latent_parameters'],
    external: ['float16', 'float16', 'latent_parameters'],
  };
  for (const [name, [precision, timestep, vae]] of Object.entries(expected)) {
    const model = await loadModel(join(root, name), name, pool);
    t.same([model.precision, model.timestepType, model.vaeEncoderOutput, model.textEncoderIds, model.hiddenSize], [precision, timestep, vae, 'int32', 16], name);
    t.equal(model.provider, 'cpu');
  }
});

t.test('bad model folders fail at load time, naming the file and what was expected', async (t) => {
  const broken = await modelsFolder({ missing: {}, garbage: {}, swapped: {}, tokenizer: {} });
  await rm(join(broken, 'missing', 'unet', 'model.onnx'));
  await t.rejects(loadModel(join(broken, 'missing'), 'missing', pool), { name: 'ModelError', message: /missing\/unet\/model\.onnx: missing \(the unet ONNX model\)/ });
  await writeFile(join(broken, 'garbage', 'vae_decoder', 'model.onnx'), 'not a model');
  await t.rejects(loadModel(join(broken, 'garbage'), 'garbage', pool), { message: /garbage\/vae_decoder\/model\.onnx: onnxruntime cannot load it/ });
  await copyFile(join(broken, 'swapped', 'vae_decoder', 'model.onnx'), join(broken, 'swapped', 'unet', 'model.onnx'));
  await t.rejects(loadModel(join(broken, 'swapped'), 'swapped', pool), { message: /swapped\/unet\/model\.onnx: no input 'sample' \(inputs: latent_sample\); expected the diffusers ONNX export layout/ });
  await rm(join(broken, 'tokenizer', 'tokenizer', 'merges.txt'));
  await t.rejects(loadModel(join(broken, 'tokenizer'), 'tokenizer', pool), { message: /tokenizer\/merges\.txt: missing \(the CLIP tokenizer\)/ });
  await t.rejects(findModels(join(broken, 'nope')), { message: /MODELS_DIR .*nope: cannot read the folder/ });
});
