import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SessionPool } from '../../src/engine/session-pool.js';
import { findModels, loadModel } from '../../src/models/loader.js';
import { modelsFolder, VARIANTS } from '../helpers/models.js';

const root = await modelsFolder(t, VARIANTS);
const pool = new SessionPool();
t.teardown(() => pool.release());

t.test('every export variant loads, with its I/O types read from the files', async (t) => {
  t.same(await findModels(root), ['external', 'fp16', 'optimum', 'sd2-v', 'sdxl', 'tiny']);
  const expected: Record<string, [string, string, string, string, number]> = {
    tiny: ['float32', 'float32', 'latent_sample', 'sd1 eps', 16],
    fp16: ['float16', 'float16', 'latent_sample', 'sd1 eps', 16],
    optimum: ['float32', 'int64', 'latent_parameters', 'sd1 eps', 16],
    external: ['float16', 'float16', 'latent_parameters', 'sd1 eps', 16],
    'sd2-v': ['float32', 'float32', 'latent_sample', 'sd2 v', 16],
    sdxl: ['float16', 'int64', 'latent_sample', 'sdxl eps', 40],
  };
  for (const [name, [precision, timestep, vae, family, hidden]] of Object.entries(expected)) {
    const model = await loadModel(join(root, name), name, pool);
    t.same([model.precision, model.timestepType, model.vaeEncoderOutput, `${model.family.name} ${model.prediction}`, model.textEncoders[0]!.ids, model.hiddenSize], [precision, timestep, vae, family, 'int32', hidden], name);
    t.equal(model.provider, 'cpu');
  }
  const sdxl = await loadModel(join(root, 'sdxl'), 'sdxl', pool);
  t.same(sdxl.conditioningTypes, { encoder_hidden_states: 'float16', text_embeds: 'float16', time_ids: 'float16' });
  t.same([sdxl.vaeEncoderPrecision, sdxl.vaeDecoderPrecision], ['float16', 'float16']);
});

t.test('bad model folders fail at load time, naming the file and what was expected', async (t) => {
  const broken = await modelsFolder(t, { missing: {}, garbage: {}, swapped: {}, tokenizer: {} });
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

/** Rewrites a generated model's model_index.json without this project's latent_upscale marker, as optimum writes it. */
async function withoutMarker(directory: string): Promise<void> {
  const index = JSON.parse(await readFile(join(directory, 'model_index.json'), 'utf8')) as Record<string, unknown>;
  delete index['latent_upscale'];
  await writeFile(join(directory, 'model_index.json'), JSON.stringify(index));
}

t.test('the family: the converter\'s marker first, then text_encoder_2, then a 1024-wide context, else SD 1.x', async (t) => {
  const folder = await modelsFolder(t, {
    marked: { family: 'sd2' }, xl: { family: 'sdxl' }, wide: { family: 'sd2', hiddenSize: 1024 }, narrow: { family: 'sd2' }, plain: {},
  });
  for (const name of ['xl', 'wide', 'narrow', 'plain']) await withoutMarker(join(folder, name));
  const families = await Promise.all(['marked', 'xl', 'wide', 'narrow', 'plain'].map(async (name) => (await loadModel(join(folder, name), name, pool)).family.name));
  t.same(families, ['sd2', 'sdxl', 'sd2', 'sd1', 'sd1'], 'a 16-wide SD 2.x layout without the marker is indistinguishable from SD 1.x');

  const index = JSON.parse(await readFile(join(folder, 'plain', 'model_index.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(folder, 'plain', 'model_index.json'), JSON.stringify({ ...index, latent_upscale: { family: 'sd3' } }));
  await t.rejects(loadModel(join(folder, 'plain'), 'plain', pool), { message: /plain\/model_index\.json: latent_upscale\.family is "sd3"; expected one of sd1, sd2, sdxl/ });
  await rm(join(folder, 'xl', 'tokenizer_2', 'vocab.json'));
  await t.rejects(loadModel(join(folder, 'xl'), 'xl', pool), {
    message: /xl\/tokenizer_2\/vocab\.json: missing \(the CLIP tokenizer of text_encoder_2\) \[read as SDXL: text_encoder_2\/model\.onnx is present\]/,
  });
});

t.test('prediction: scheduler_config.json prediction_type, else the marker, else ε', async (t) => {
  const folder = await modelsFolder(t, { v: { prediction: 'v' }, eps: {} });
  const prediction = async (name: string): Promise<string> => (await loadModel(join(folder, name), name, pool)).prediction;
  t.equal(await prediction('v'), 'v');
  t.equal(await prediction('eps'), 'eps');
  const config = join(folder, 'v', 'scheduler', 'scheduler_config.json');
  await writeFile(config, JSON.stringify({ prediction_type: 'epsilon' }));
  t.equal(await prediction('v'), 'eps', 'the scheduler config wins over the marker');
  await rm(config);
  t.equal(await prediction('v'), 'v', 'no scheduler config: the marker');
  await withoutMarker(join(folder, 'v'));
  t.equal(await prediction('v'), 'eps', 'neither: ε');
  await writeFile(config, JSON.stringify({ prediction_type: 'sample' }));
  await t.rejects(loadModel(join(folder, 'v'), 'v', pool), { message: /scheduler_config\.json: prediction_type "sample" is not supported \(allowed: epsilon, v_prediction\)/ });
});

t.test('VAE scale: vae_decoder/config.json scaling_factor, else the family\'s (0.18215 SD 1.x/2.x, 0.13025 SDXL)', async (t) => {
  const folder = await modelsFolder(t, { sd1: {}, sd2: { family: 'sd2' }, sdxl: { family: 'sdxl' } });
  for (const name of ['sd1', 'sd2', 'sdxl']) await rm(join(folder, name, 'vae_decoder', 'config.json'));
  const scales = await Promise.all(['sd1', 'sd2', 'sdxl'].map(async (name) => (await loadModel(join(folder, name), name, pool)).vaeScale));
  t.same(scales, [0.18215, 0.18215, 0.13025]);
  await writeFile(join(folder, 'sdxl', 'vae_decoder', 'config.json'), JSON.stringify({ scaling_factor: 0.5 }));
  t.equal((await loadModel(join(folder, 'sdxl'), 'sdxl', pool)).vaeScale, 0.5);
});

t.test('pad ids from special_tokens_map.json: CLIP-L pads with <|endoftext|>, OpenCLIP with "!"', async (t) => {
  const folder = await modelsFolder(t, { sd1: {}, sd2: { family: 'sd2' }, sdxl: { family: 'sdxl' } });
  // The byte vocabulary puts the printable bytes first by code point ('!' is 0), then the same with </w>,
  // then <|startoftext|> 512 and <|endoftext|> 513.
  const pads = async (name: string): Promise<number[]> => (await loadModel(join(folder, name), name, pool)).textEncoders.map((e) => e.padId);
  t.same(await pads('sd1'), [513]);
  t.same(await pads('sd2'), [0], 'pad_token as an AddedToken object with content "!"');
  t.same(await pads('sdxl'), [513, 0]);
  await rm(join(folder, 'sd2', 'tokenizer', 'special_tokens_map.json'));
  t.same(await pads('sd2'), [513], 'no special tokens map: the end token');
  await writeFile(join(folder, 'sd1', 'tokenizer', 'special_tokens_map.json'), JSON.stringify({ pad_token: '<pad>' }));
  await t.rejects(loadModel(join(folder, 'sd1'), 'sd1', pool), { message: /sd1\/tokenizer\/special_tokens_map\.json: pad_token "<pad>" is not in .*sd1\/tokenizer\/vocab\.json/ });
});

t.test('text encoder outputs: SD 1.x clip_skip_N sets the largest clip skip; SDXL counts its hidden_states layers and its ids types', async (t) => {
  const folder = await modelsFolder(t, { plain: {}, skips: { maxClipSkip: 3 }, sd2: { family: 'sd2', maxClipSkip: 3 }, sdxl: { family: 'sdxl' } });
  const load = (name: string) => loadModel(join(folder, name), name, pool);
  t.equal((await load('plain')).maxClipSkip, 1, 'only last_hidden_state');
  t.equal((await load('skips')).maxClipSkip, 3);
  t.equal((await load('sd2')).maxClipSkip, 1, 'SD 2.x takes no clip skip whatever its outputs');
  const sdxl = await load('sdxl');
  t.same(sdxl.textEncoders.map((e) => [e.component, e.layers, e.ids, e.width]), [['text_encoder', 2, 'int32', 16], ['text_encoder_2', 2, 'int64', 24]]);
  t.same([sdxl.hiddenSize, sdxl.family.sigmaTable], [40, 'sdxl'], 'the UNet context is 16 + 24 wide');
});
