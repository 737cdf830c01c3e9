import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { encodeModel } from '../engine/onnx/model.js';
import { FAMILIES, FAMILY_NAMES, type FamilyName, type Prediction } from '../models/families.js';
import { UserError } from '../errors.js';
import { vocabularyFiles } from '../text/clip-tokenizer.js';
import { readClipVocabulary } from '../text/clip-vocabulary.js';
import { CheckpointError, CheckpointFile } from './checkpoint-file.js';
import {
  CHECKPOINT_LAYOUTS, VAE_PREFIX, componentGraphs, detectFamily, readArchitecture, type ModelArchitecture,
} from './layouts.js';
import { ShapeReader } from './shapes.js';
import { CheckpointWeights, type StoragePrecision } from './weights.js';

// `convert-checkpoint`: a single-file ldm/sgm checkpoint → the diffusers ONNX folder the loader reads,
// with graphs built by our own graph builder and weights streamed tensor by tensor into each component's
// external weights file. The folder appears only when complete (written under a temporary name, renamed).

export interface ConvertOptions {
  readonly family?: 'auto' | FamilyName;
  readonly prediction?: 'auto' | Prediction;
  readonly precision?: StoragePrecision;
  /** A separate VAE file (A1111's models/VAE): `first_stage_model.*` or bare `encoder.*`/`decoder.*` keys. */
  readonly vae?: string;
  readonly log?: (line: string) => void;
}

export interface ConversionSummary {
  readonly family: FamilyName;
  readonly prediction: Prediction;
  /** Where the prediction type came from, for the log and the model folder. */
  readonly predictionSource: string;
  readonly precision: StoragePrecision;
  readonly architecture: ModelArchitecture;
  readonly bytes: number;
  readonly seconds: number;
}

/** Keys real files hold outside the networks, or inside them but unused (never converted, never an error). */
const IGNORED_KEY = /(^|\.)position_ids$|(^|\.)logit_scale$|^first_stage_model\.loss\./;

/** Each component's weights beside its model.onnx (ONNX external data; protobuf alone stops at 2 GB). */
const WEIGHTS_FILE = 'weights.pb';

export async function convertCheckpoint(input: string, output: string, options: ConvertOptions = {}): Promise<ConversionSummary> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const precision = options.precision ?? 'fp16';
  if (existsSync(output)) throw new UserError(`${output} already exists; choose a new output folder or remove it`);
  const file = CheckpointFile.open(input);
  const vaeFile = options.vae === undefined ? undefined : CheckpointFile.open(options.vae);
  const temporary = `${output}.partial-${process.pid}`;
  try {
    const family = chooseFamily(file, options.family ?? 'auto');
    const { prediction, source: predictionSource } = choosePrediction(input, file, family, options.prediction ?? 'auto');
    log(`${basename(input)}: ${FAMILIES[family].label}, ${prediction === 'v' ? 'v-prediction' : 'ε-prediction'} (${predictionSource}), weights stored as ${precision}`);
    const vaeSource = vaeFile ?? file;
    const vaePrefix = vaeFile === undefined || vaeFile.has('encoder.conv_in.weight') === false ? VAE_PREFIX : '';
    const shapes = (f: CheckpointFile): ShapeReader => new ShapeReader(f.path, '', (name) => f.entries.get(name)?.shape);
    const architecture = readArchitecture(family, shapes(file), shapes(vaeSource).under(vaePrefix));
    await rm(temporary, { recursive: true, force: true });
    await mkdir(temporary, { recursive: true });
    const used = new Set<string>();
    let bytes = 0;
    for (const component of componentGraphs(architecture, vaePrefix)) {
      const componentStarted = performance.now();
      const folder = join(temporary, component.folder);
      await mkdir(folder);
      const weights = new CheckpointWeights(component.folder.startsWith('vae') ? vaeSource : file, component.prefix, precision, WEIGHTS_FILE, used);
      await writeFile(join(folder, 'model.onnx'), encodeModel(component.build(weights)));
      const written = await weights.write(join(folder, WEIGHTS_FILE));
      bytes += written;
      log(`  ${component.folder}: ${(written / 1e6).toFixed(1)} MB of weights in ${((performance.now() - componentStarted) / 1000).toFixed(1)} s`);
    }
    checkNothingLeftOver(file, family, used, vaeFile === undefined);
    await writeFolderFiles(temporary, family, prediction, predictionSource, precision, basename(input));
    await rename(temporary, output);
    const seconds = (performance.now() - started) / 1000;
    log(`wrote ${output} (${(bytes / 1e9).toFixed(2)} GB) in ${seconds.toFixed(1)} s`);
    return { family, prediction, predictionSource, precision, architecture, bytes, seconds };
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  } finally {
    file.close();
    vaeFile?.close();
  }
}

function chooseFamily(file: CheckpointFile, requested: 'auto' | FamilyName): FamilyName {
  const detected = detectFamily((key) => file.has(key));
  if (requested === 'auto') {
    if (detected !== undefined) return detected;
    throw new CheckpointError(file.path, `not a Stable Diffusion checkpoint: none of ${FAMILY_NAMES.map((f) => `'${CHECKPOINT_LAYOUTS[f].marker}' (${f})`).join(', ')} is in it`);
  }
  if (!file.has(CHECKPOINT_LAYOUTS[requested].marker)) {
    throw new CheckpointError(file.path, `--family ${requested} needs '${CHECKPOINT_LAYOUTS[requested].marker}', which the file lacks${detected ? ` (it looks like ${detected})` : ''}`);
  }
  return requested;
}

/**
 * Neither v-prediction nor ε is stored in ldm/sgm weights. In order: the option; an A1111-style config
 * beside the file (NAME.yaml with `parameterization: "v"`, as A1111 reads for SD 2.x 768-v models); a
 * `v_pred` key (ComfyUI's marker in files it saves); otherwise ε, which is right for SD 1.x, SDXL base and SD 2.x 512-base.
 */
function choosePrediction(input: string, file: CheckpointFile, family: FamilyName, requested: 'auto' | Prediction): { prediction: Prediction; source: string } {
  if (requested !== 'auto') return { prediction: requested, source: '--prediction' };
  const yaml = input.replace(/\.safetensors$/i, '.yaml');
  if (yaml !== input && existsSync(yaml)) {
    const v = /^\s*parameterization:\s*["']?v["']?\s*$/m.test(readFileSync(yaml, 'utf8'));
    return { prediction: v ? 'v' : 'eps', source: `${basename(yaml)}` };
  }
  if (file.has('v_pred')) return { prediction: 'v', source: "the file's v_pred key" };
  return { prediction: 'eps', source: family === 'sd2' ? 'default; SD 2.x 768-v files need --prediction v or a .yaml beside them' : 'default' };
}

/** Every tensor of the networks must have been used: a leftover one means the architecture was misread. */
function checkNothingLeftOver(file: CheckpointFile, family: FamilyName, used: ReadonlySet<string>, vaeInFile: boolean): void {
  const layout = CHECKPOINT_LAYOUTS[family];
  const prefixes = ['model.diffusion_model.', ...layout.textEncoders.map((t) => t.prefix), ...(vaeInFile ? [VAE_PREFIX] : [])];
  for (const key of file.entries.keys()) {
    if (prefixes.some((p) => key.startsWith(p)) && !used.has(key) && !IGNORED_KEY.test(key)) {
      throw new CheckpointError(file.path, `tensor '${key}' fits no part of the ${FAMILIES[family].label} architecture read from the file's shapes`);
    }
  }
}

async function writeFolderFiles(folder: string, family: FamilyName, prediction: Prediction, predictionSource: string, precision: StoragePrecision, source: string): Promise<void> {
  const layout = CHECKPOINT_LAYOUTS[family];
  const json = (path: string, value: unknown): Promise<void> => writeFile(join(folder, path), `${JSON.stringify(value, null, 2)}\n`);
  const onnx = ['optimum', 'ORTModel'];
  await json('model_index.json', {
    _class_name: layout.pipelineClass,
    _diffusers_version: '0.30.0',
    ...Object.fromEntries([...layout.textEncoders.map((t) => t.folder), 'unet', 'vae_encoder', 'vae_decoder'].map((component) => [component, onnx])),
    ...Object.fromEntries(layout.textEncoders.map((t) => [t.tokenizerFolder, ['transformers', 'CLIPTokenizer']])),
    scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    latent_upscale: { family, prediction, prediction_source: predictionSource, precision, source },
  });
  await mkdir(join(folder, 'scheduler'));
  // The scaled-linear betas every family trained with (ldm's make_beta_schedule "linear"); see docs in README "your own models".
  await json('scheduler/scheduler_config.json', {
    _class_name: 'EulerDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000,
    prediction_type: prediction === 'v' ? 'v_prediction' : 'epsilon',
  });
  for (const part of ['vae_encoder', 'vae_decoder']) await json(`${part}/config.json`, { scaling_factor: FAMILIES[family].vaeScale });
  const { vocabJson, mergesTxt } = vocabularyFiles(await readClipVocabulary());
  for (const encoder of layout.textEncoders) {
    await mkdir(join(folder, encoder.tokenizerFolder));
    await writeFile(join(folder, encoder.tokenizerFolder, 'vocab.json'), vocabJson);
    await writeFile(join(folder, encoder.tokenizerFolder, 'merges.txt'), mergesTxt);
    await json(`${encoder.tokenizerFolder}/special_tokens_map.json`, { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: encoder.padToken });
  }
}
