import { existsSync } from 'node:fs';
import { readFile, readdir, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { convertCheckpointsIn } from '../../src/convert/cache.js';
import { CheckpointFile } from '../../src/convert/checkpoint-file.js';
import { convertCheckpoint } from '../../src/convert/convert.js';
import { VAE_PREFIX, readArchitecture } from '../../src/convert/layouts.js';
import { FAMILY_NAMES } from '../../src/models/families.js';
import { ShapeReader } from '../../src/convert/shapes.js';
import { TEST_ARCHITECTURES, writeTestCheckpoint } from '../../src/convert/test-checkpoint.js';
import { runCli } from '../../src/cli/run.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { handMadeSafetensors, splitSafetensors, type SafetensorsHeader } from '../helpers/safetensors.js';
import { temporaryFolder } from '../helpers/temporary.js';

const dir = await temporaryFolder(t, 'convert');
const checkpoint = (family: 'sd1' | 'sd2' | 'sdxl', precision: 'fp16' | 'fp32' = 'fp32'): string => {
  const path = join(dir, `${family}-${precision}.safetensors`);
  if (!existsSync(path)) writeTestCheckpoint(path, { family, size: 'tiny', precision, seed: 7 });
  return path;
};

/** Rewrites a safetensors header; data offsets count from the end of the header, so they keep their meaning. */
async function editHeader(source: string, target: string, edit: (header: SafetensorsHeader) => void): Promise<void> {
  const { header, data } = splitSafetensors(await readFile(source));
  edit(header);
  await writeFile(target, handMadeSafetensors(header, data));
}

const leftovers = async (): Promise<string[]> => (await readdir(dir)).filter((f) => f.includes('.partial-'));

t.test('the architecture read back from a written checkpoint is the one it was written with, for every family', async (t) => {
  for (const family of FAMILY_NAMES) {
    const file = CheckpointFile.open(checkpoint(family));
    const shapes = new ShapeReader(file.path, '', (name) => file.entries.get(name)?.shape);
    t.same(readArchitecture(family, shapes, shapes.under(VAE_PREFIX)), TEST_ARCHITECTURES[family].tiny, family);
    file.close();
  }
});

t.test('a converted folder has the diffusers layout, the family, the prediction and the tokenizer pad of each encoder', async (t) => {
  for (const family of FAMILY_NAMES) {
    const out = join(dir, `layout-${family}`);
    const summary = await convertCheckpoint(checkpoint(family), out, { precision: 'fp16' });
    t.equal(summary.family, family);
    const index = JSON.parse(await readFile(join(out, 'model_index.json'), 'utf8')) as { _class_name: string; latent_upscale: { family: string; prediction: string } };
    t.equal(index._class_name, family === 'sdxl' ? 'ORTStableDiffusionXLPipeline' : 'OnnxStableDiffusionPipeline');
    t.same([index.latent_upscale.family, index.latent_upscale.prediction], [family, 'eps']);
    const folders = (await readdir(out)).sort();
    const expected = ['model_index.json', 'scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae_decoder', 'vae_encoder', ...(family === 'sdxl' ? ['text_encoder_2', 'tokenizer_2'] : [])].sort();
    t.same(folders, expected, `${family} folders`);
    for (const component of folders.filter((f) => /encoder|unet|decoder/.test(f) && !f.startsWith('tokenizer'))) {
      t.ok((await stat(join(out, component, 'weights.pb'))).size > 0, `${family} ${component} has external weights`);
    }
    const pads = await Promise.all((family === 'sdxl' ? ['tokenizer', 'tokenizer_2'] : ['tokenizer']).map(async (folder) => (JSON.parse(await readFile(join(out, folder, 'special_tokens_map.json'), 'utf8')) as { pad_token: string }).pad_token));
    t.same(pads, { sd1: ['<|endoftext|>'], sd2: ['!'], sdxl: ['<|endoftext|>', '!'] }[family], `${family}: CLIP pads with the end token, OpenCLIP with 0 ("!")`);
    const scale = (JSON.parse(await readFile(join(out, 'vae_decoder', 'config.json'), 'utf8')) as { scaling_factor: number }).scaling_factor;
    t.equal(scale, family === 'sdxl' ? 0.13025 : 0.18215);
  }
});

t.test('fp16 storage halves the weights of an fp32 checkpoint', async (t) => {
  const half = await convertCheckpoint(checkpoint('sd1'), join(dir, 'half'), { precision: 'fp16' });
  const full = await convertCheckpoint(checkpoint('sd1'), join(dir, 'full'), { precision: 'fp32' });
  t.equal(full.bytes, 2 * half.bytes);
});

t.test('bf16, fp16 and fp32 storage are read alike: a bf16 file converts to the weights of the same values stored in fp32', async (t) => {
  const { header, data } = splitSafetensors(await readFile(checkpoint('sd1')));
  // bfloat16 is the high half of a float32: the bf16 file keeps those halves; the fp32 file zeroes the low ones.
  const asBf16: Record<string, unknown> = {};
  const truncated: Record<string, unknown> = {};
  const bf16Parts: Buffer[] = [];
  const fp32Parts: Buffer[] = [];
  let [bf16At, fp32At] = [0, 0];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    let [bf16, fp32] = [data.subarray(entry.data_offsets[0], entry.data_offsets[1]), data.subarray(entry.data_offsets[0], entry.data_offsets[1])];
    if (entry.dtype === 'F32') {
      const words = new Uint32Array(new Uint8Array(fp32).buffer.slice(0));
      bf16 = Buffer.from(Uint16Array.from(words, (w) => w >>> 16).buffer);
      fp32 = Buffer.from(Uint32Array.from(words, (w) => (w & 0xffff0000) >>> 0).buffer);
    }
    asBf16[name] = { ...entry, dtype: entry.dtype === 'F32' ? 'BF16' : entry.dtype, data_offsets: [bf16At, bf16At + bf16.length] };
    truncated[name] = { ...entry, data_offsets: [fp32At, fp32At + fp32.length] };
    bf16Parts.push(bf16);
    fp32Parts.push(fp32);
    bf16At += bf16.length;
    fp32At += fp32.length;
  }
  await writeFile(join(dir, 'bf16.safetensors'), handMadeSafetensors(asBf16, ...bf16Parts));
  await writeFile(join(dir, 'bf16-as-fp32.safetensors'), handMadeSafetensors(truncated, ...fp32Parts));
  await convertCheckpoint(join(dir, 'bf16.safetensors'), join(dir, 'from-bf16'), { precision: 'fp32' });
  await convertCheckpoint(join(dir, 'bf16-as-fp32.safetensors'), join(dir, 'from-fp32'), { precision: 'fp32' });
  for (const component of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
    const [a, b] = await Promise.all([readFile(join(dir, 'from-bf16', component, 'weights.pb')), readFile(join(dir, 'from-fp32', component, 'weights.pb'))]);
    t.ok(a.length > 0 && a.equals(b), `${component}: the same ${a.length} bytes of weights`);
  }
});

t.test('--vae takes the VAE from a separate file with bare encoder./decoder. keys (A1111 models/VAE)', async (t) => {
  const other = join(dir, 'other-vae-source.safetensors');
  writeTestCheckpoint(other, { family: 'sd1', size: 'tiny', precision: 'fp32', seed: 99 });
  const { header, data: stored } = splitSafetensors(await readFile(other));
  const standalone: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let at = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (!name.startsWith('first_stage_model.')) continue;
    const data = stored.subarray(entry.data_offsets[0], entry.data_offsets[1]);
    standalone[name.slice('first_stage_model.'.length)] = { ...entry, data_offsets: [at, at + data.length] };
    parts.push(data);
    at += data.length;
  }
  const vae = join(dir, 'standalone-vae.safetensors');
  await writeFile(vae, handMadeSafetensors(standalone, ...parts));

  await convertCheckpoint(checkpoint('sd1'), join(dir, 'with-vae'), { vae, precision: 'fp32' });
  await convertCheckpoint(other, join(dir, 'vae-source'), { precision: 'fp32' });
  await convertCheckpoint(checkpoint('sd1'), join(dir, 'own-vae'), { precision: 'fp32' });
  const weights = (folder: string, component: string): Promise<Buffer> => readFile(join(dir, folder, component, 'weights.pb'));
  t.ok((await weights('with-vae', 'vae_decoder')).equals(await weights('vae-source', 'vae_decoder')), 'the decoder comes from the VAE file');
  t.ok((await weights('with-vae', 'vae_encoder')).equals(await weights('vae-source', 'vae_encoder')), 'so does the encoder');
  t.ok((await weights('with-vae', 'unet')).equals(await weights('own-vae', 'unet')), 'the UNet from the checkpoint');
  t.notOk((await weights('with-vae', 'vae_decoder')).equals(await weights('own-vae', 'vae_decoder')), 'not the checkpoint\'s own VAE');
});

t.test('an output folder whose parent does not exist yet is created', async (t) => {
  const out = join(dir, 'new', 'deeper', 'model');
  await convertCheckpoint(checkpoint('sd2'), out);
  t.ok(existsSync(join(out, 'model_index.json')));
});

t.test('an SD 1.x file with the CLIP key names of transformers before 4.x (no text_model.) converts to the same model', async (t) => {
  const legacy = join(dir, 'legacy-clip.safetensors');
  await editHeader(checkpoint('sd1'), legacy, (header) => {
    for (const key of Object.keys(header).filter((k) => k.startsWith('cond_stage_model.transformer.text_model.'))) {
      header[key.replace('transformer.text_model.', 'transformer.')] = header[key]!;
      delete header[key];
    }
  });
  await convertCheckpoint(legacy, join(dir, 'legacy-out'), { precision: 'fp32' });
  await convertCheckpoint(checkpoint('sd1'), join(dir, 'modern-out'), { precision: 'fp32' });
  const weights = (folder: string): Promise<Buffer> => readFile(join(dir, folder, 'text_encoder', 'weights.pb'));
  t.ok((await weights('legacy-out')).equals(await weights('modern-out')), 'the same text encoder weights');
});

t.test('prediction: the option, then NAME.yaml beside the file, then a v_pred key, else ε', async (t) => {
  const base = join(dir, 'v-model.safetensors');
  await writeFile(base, await readFile(checkpoint('sd2')));
  t.equal((await convertCheckpoint(base, join(dir, 'v-default'))).prediction, 'eps');
  t.equal((await convertCheckpoint(base, join(dir, 'v-option'), { prediction: 'v' })).prediction, 'v');
  await writeFile(join(dir, 'v-model.yaml'), 'model:\n  params:\n    parameterization: "v"\n');
  const fromYaml = await convertCheckpoint(base, join(dir, 'v-yaml'));
  t.same([fromYaml.prediction, fromYaml.predictionSource], ['v', 'v-model.yaml']);
  const scheduler = JSON.parse(await readFile(join(dir, 'v-yaml', 'scheduler', 'scheduler_config.json'), 'utf8')) as { prediction_type: string };
  t.equal(scheduler.prediction_type, 'v_prediction');
  const marked = join(dir, 'marked.safetensors');
  await editHeader(checkpoint('sd2'), marked, (header) => {
    header['v_pred'] = header['model_ema.decay']!;
    delete header['model_ema.decay'];
  });
  t.equal((await convertCheckpoint(marked, join(dir, 'v-key'))).prediction, 'v');
});

t.test('a bad file fails with one message naming the file and the tensor, and leaves no output folder behind', async (t) => {
  const cases: [string, (path: string) => Promise<void>, RegExp][] = [
    ['png.safetensors', (p) => writeFile(p, encodeRgbPng(8, 8, () => [1, 2, 3])), /png\.safetensors: not a safetensors file/],
    ['truncated.safetensors', async (p) => {
      await writeFile(p, await readFile(checkpoint('sd1')));
      await truncate(p, (await stat(p)).size - 1000);
    }, /truncated\.safetensors: truncated: tensor '[^']+' ends at byte/],
    ['missing.safetensors', (p) => editHeader(checkpoint('sd1'), p, (h) => void delete h['model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_v.weight']),
      /missing\.safetensors: tensor 'model\.diffusion_model\.input_blocks\.1\.1\.transformer_blocks\.0\.attn2\.to_v\.weight' is missing/],
    ['reshaped.safetensors', (p) => editHeader(checkpoint('sd1'), p, (h) => void h['model.diffusion_model.time_embed.0.weight']!.shape.reverse()),
      /reshaped\.safetensors: tensor 'model\.diffusion_model\.time_embed\.0\.weight' has shape \[32, 128\]; the architecture read from the other tensors needs \[128, 32\]/],
    ['unknown.safetensors', (p) => editHeader(checkpoint('sd1'), p, (h) => {
      h['cond_stage_model.transformer.text_model.final_layer_norm.bogus'] = h['cond_stage_model.transformer.text_model.final_layer_norm.weight']!;
      delete h['cond_stage_model.transformer.text_model.final_layer_norm.weight'];
    }), /unknown\.safetensors: not a Stable Diffusion checkpoint: none of/],
    ['extra.safetensors', (p) => editHeader(checkpoint('sd1'), p, (h) => {
      h['model.diffusion_model.input_blocks.9.0.in_layers.0.weight'] = h['model_ema.decay']!;
      delete h['model_ema.decay'];
    }), /extra\.safetensors: tensor 'model\.diffusion_model\.input_blocks\.9\.0\.in_layers\.0\.weight' fits no part of the SD 1\.x architecture read from the file's shapes/],
  ];
  for (const [name, make, message] of cases) {
    const path = join(dir, name);
    await make(path);
    const out = join(dir, `out-${name}`);
    await t.rejects(convertCheckpoint(path, out), { message }, name);
    t.notOk(existsSync(out), `${name}: no output folder`);
  }
  await t.rejects(convertCheckpoint(join(dir, 'model.ckpt'), join(dir, 'out-ckpt')), { message: /model\.ckpt: pickled PyTorch checkpoints are not read/ });
  await t.rejects(convertCheckpoint(checkpoint('sd1'), join(dir, 'out-family'), { family: 'sdxl' }), { message: /--family sdxl needs 'conditioner\.embedders\.1\.model\.ln_final\.weight', which the file lacks \(it looks like sd1\)/ });
  await t.rejects(convertCheckpoint(checkpoint('sd1'), join(dir, 'layout-sd1')), { message: /already exists/ });
  t.same(await leftovers(), [], 'no .partial folder or file anywhere');
});

/** One pass of the MODELS_DIR conversion, with what it reported. */
async function convertFolder(models: string, cache: string, taken: string[] = []) {
  const lines: string[] = [];
  const ready = new Map<string, string>();
  const failed = new Map<string, string>();
  const converting: string[] = [];
  await convertCheckpointsIn(models, cache, {
    taken: new Set(taken),
    precision: 'fp16',
    log: (line) => void lines.push(line),
    events: { converting: (name) => void converting.push(name), ready: (name, folder) => void ready.set(name, folder), failed: (name, error) => void failed.set(name, error) },
  });
  return { log: lines.join('\n'), ready, failed, converting };
}

t.test('MODELS_DIR checkpoints are converted once and again only when the file, its .yaml or the converter changes', async (t) => {
  const models = await temporaryFolder(t, 'models-dir');
  await writeFile(join(models, 'my-model.safetensors'), await readFile(checkpoint('sd2')));
  await writeFile(join(models, 'broken.safetensors'), 'not a checkpoint');
  await writeFile(join(models, 'exported.safetensors'), await readFile(checkpoint('sd1')));
  const cache = join(models, '.cache');
  const first = await convertFolder(models, cache, ['exported']);
  t.same([...first.ready.keys()], ['my-model']);
  t.same(first.converting, ['broken', 'my-model']);
  t.match(first.failed.get('broken'), /broken\.safetensors: not a safetensors file/);
  t.match(first.log, /converting my-model\.safetensors .* this happens once per file/);
  t.match(first.log, /exported\.safetensors is not used: the model folder exported\/ has the same name/);
  t.notOk(existsSync(join(cache, 'exported')), 'a checkpoint hidden by a model folder is not converted');
  const converted = (await stat(join(cache, 'my-model', 'unet', 'weights.pb'))).mtimeMs;

  const second = await convertFolder(models, cache, ['exported']);
  t.same(second.converting, ['broken'], 'reused; only the broken file is tried again');
  t.same([...second.ready.keys()], ['my-model']);
  t.equal((await stat(join(cache, 'my-model', 'unet', 'weights.pb'))).mtimeMs, converted);

  await writeFile(join(models, 'my-model.yaml'), 'model:\n  params:\n    parameterization: "v"\n');
  t.same((await convertFolder(models, cache, ['exported'])).converting, ['broken', 'my-model'], 'a .yaml added beside it: converted again');
  const index = JSON.parse(await readFile(join(cache, 'my-model', 'model_index.json'), 'utf8')) as { latent_upscale: { prediction: string } };
  t.equal(index.latent_upscale.prediction, 'v', 'and the yaml is honoured');

  const later = new Date(Date.now() + 5000);
  await utimes(join(models, 'my-model.safetensors'), later, later);
  t.same((await convertFolder(models, cache, ['exported'])).converting, ['broken', 'my-model'], 'a changed file: converted again');
  t.same((await readdir(cache)).filter((f) => /partial|previous/.test(f)), [], 'the replaced conversion leaves nothing behind');
});

t.test('an unwritable cache folder is one clear error per checkpoint, naming MODELS_CACHE_DIR', async (t) => {
  const models = await temporaryFolder(t, 'models-ro');
  await writeFile(join(models, 'a.safetensors'), await readFile(checkpoint('sd1')));
  const blocked = join(models, 'not-a-folder');
  await writeFile(blocked, 'a file where the cache folder should be');
  const result = await convertFolder(models, join(blocked, 'cache'));
  t.match(result.failed.get('a'), /a\.safetensors cannot be converted: MODELS_CACHE_DIR .*not-a-folder\/cache is not writable \(ENOTDIR\); set MODELS_CACHE_DIR to a writable folder/);
  t.same(result.converting, []);
});

t.test('the CLI commands: make-test-checkpoint, convert-checkpoint, and one-line errors for bad options', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) };
  const file = join(dir, 'cli.safetensors');
  t.equal(await runCli(['make-test-checkpoint', file, '--family', 'sdxl', '--precision', 'fp16'], io), 0);
  t.match(err.join('\n'), /cli\.safetensors: \d+ tensors/);
  t.equal(await runCli(['convert-checkpoint', file, join(dir, 'cli-out'), '--precision', 'fp32'], io), 0);
  t.match(JSON.parse(out.at(-1)!), { family: 'sdxl', prediction: 'eps', precision: 'fp32' });
  for (const [args, message] of [
    [['make-test-checkpoint', file], /--family is required \(one of sd1, sd2, sdxl\)/],
    [['make-test-checkpoint', file, '--family', 'sd3'], /--family must be one of sd1, sd2, sdxl; got 'sd3'/],
    [['convert-checkpoint', file, join(dir, 'x'), '--prediction', 'x0'], /--prediction must be one of auto, eps, v; got 'x0'/],
    [['convert-checkpoint', file, join(dir, 'y'), '--precision', 'bf16'], /--precision must be one of fp16, fp32; got 'bf16'/],
  ] as const) {
    err.length = 0;
    t.equal(await runCli(args, io), 2, args.join(' '));
    t.match(err.join('\n'), message);
  }
});
