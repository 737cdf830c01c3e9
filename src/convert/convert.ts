import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { encodeModel } from '../engine/onnx/model.js';
import { FAMILIES, FAMILY_NAMES, type FamilyName, type Prediction } from '../models/families.js';
import {
  EXTERNAL_WEIGHTS_FILE, MODEL_FILE, MODEL_INDEX_FILE, SCHEDULER_CONFIG_FILE, SPECIAL_TOKENS_FILE, TOKENIZER_FILES, modelIndex, type ModelIndexMarker,
} from '../models/layout.js';
import { UserError } from '../errors.js';
import { vocabularyFiles } from '../text/clip-tokenizer.js';
import { readClipVocabulary } from '../text/clip-vocabulary.js';
import { CheckpointError, CheckpointFile } from './checkpoint-file.js';
import {
  CHECKPOINT_LAYOUTS, UNET_PREFIX, UNSUPPORTED_KINDS, VAE_PREFIX, componentGraphs, modernKey, detectFamily, readArchitecture, type ModelArchitecture,
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
  /** Replace an existing output folder (once the new one is complete) instead of refusing. */
  readonly replace?: boolean;
  /** Stops the conversion between tensors; the partial output is removed. */
  readonly signal?: AbortSignal;
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

/** Bumped whenever converted graphs change, so cached conversions (cache.ts) are made again. */
export const CONVERTER_VERSION = 2;

/** Keys real files hold outside the networks, or inside them but unused (never converted, never an error). */
const IGNORED_KEY = /(^|\.)(position_ids|logit_scale|attn_mask)$|^first_stage_model\.loss\./;

export async function convertCheckpoint(input: string, output: string, options: ConvertOptions = {}): Promise<ConversionSummary> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const precision = options.precision ?? 'fp16';
  if (!options.replace && existsSync(output)) throw new UserError(`${output} already exists; choose a new output folder or remove it`, 'FILE_UNREADABLE');
  const opened: CheckpointFile[] = [];
  let temporary: string | undefined;
  try {
    const stored = CheckpointFile.open(input);
    opened.push(stored);
    const file = stored.renamed(modernKey);
    const vaeFile = options.vae === undefined ? undefined : CheckpointFile.open(options.vae);
    if (vaeFile) opened.push(vaeFile);
    const family = chooseFamily(file, options.family ?? 'auto');
    const { prediction, source: predictionSource } = choosePrediction(input, file, family, options.prediction ?? 'auto');
    log(`${basename(input)}: ${FAMILIES[family].label}, ${prediction === 'v' ? 'v-prediction' : 'ε-prediction'} (${predictionSource}), weights stored as ${precision}`);
    const vaeSource = vaeFile ?? file;
    const vaePrefix = vaeFile === undefined || !vaeFile.has('encoder.conv_in.weight') ? VAE_PREFIX : '';
    const shapes = (f: CheckpointFile): ShapeReader => new ShapeReader(f.path, '', (name) => f.entries.get(name)?.shape);
    const architecture = readArchitecture(family, shapes(file), shapes(vaeSource).under(vaePrefix));

    // Every graph is built (and every shape checked) before a byte is written: a misread file fails fast.
    const used = new Set<string>();
    const components = componentGraphs(architecture, vaePrefix).map((component) => {
      const weights = new CheckpointWeights(component.folder.startsWith('vae') ? vaeSource : file, component.prefix, precision, EXTERNAL_WEIGHTS_FILE, used);
      return { folder: component.folder, weights, graph: component.build(weights) };
    });
    checkNothingLeftOver(file, family, used, vaeFile === undefined);

    await mkdir(dirname(output), { recursive: true });
    temporary = await mkdtemp(`${output}.partial-`);
    let bytes = 0;
    for (const { folder, weights, graph } of components) {
      const componentStarted = performance.now();
      await mkdir(join(temporary, folder));
      await writeFile(join(temporary, folder, MODEL_FILE), encodeModel(graph));
      const written = await weights.write(join(temporary, folder, EXTERNAL_WEIGHTS_FILE), options.signal);
      bytes += written;
      log(`  ${folder}: ${(written / 1e6).toFixed(1)} MB of weights in ${((performance.now() - componentStarted) / 1000).toFixed(1)} s`);
    }
    await writeFolderFiles(temporary, family, { family, prediction, precision, source: basename(input), prediction_source: predictionSource });
    await moveInto(temporary, output);
    temporary = undefined;
    const seconds = (performance.now() - started) / 1000;
    log(`wrote ${output} (${(bytes / 1e9).toFixed(2)} GB) in ${seconds.toFixed(1)} s`);
    return { family, prediction, predictionSource, precision, architecture, bytes, seconds };
  } finally {
    if (temporary !== undefined) await rm(temporary, { recursive: true, force: true });
    for (const f of opened) f.close();
  }
}

/** Puts a finished folder at `output`; a previous one there is replaced only once the new one is whole. */
async function moveInto(folder: string, output: string): Promise<void> {
  if (!existsSync(output)) return rename(folder, output);
  const previous = await mkdtemp(`${output}.previous-`);
  await rename(output, join(previous, 'model'));
  await rename(folder, output);
  await rm(previous, { recursive: true, force: true });
}

function chooseFamily(file: CheckpointFile, requested: 'auto' | FamilyName): FamilyName {
  const detected = detectFamily((key) => file.has(key));
  if (requested === 'auto') {
    if (detected !== undefined) return detected;
    const unsupported = UNSUPPORTED_KINDS.find((kind) => file.has(kind.marker));
    if (unsupported !== undefined) throw new CheckpointError(file.path, `${unsupported.why}, which is not converted`);
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
  const prefixes = [UNET_PREFIX, ...layout.textEncoders.map((t) => t.prefix), ...(vaeInFile ? [VAE_PREFIX] : [])];
  for (const key of file.entries.keys()) {
    if (prefixes.some((p) => key.startsWith(p)) && !used.has(key) && !IGNORED_KEY.test(key)) {
      throw new CheckpointError(file.path, `tensor '${key}' fits no part of the ${FAMILIES[family].label} architecture read from the file's shapes`);
    }
  }
}

async function writeFolderFiles(folder: string, family: FamilyName, marker: ModelIndexMarker): Promise<void> {
  const json = (path: string, value: unknown): Promise<void> => writeFile(join(folder, path), `${JSON.stringify(value, null, 2)}\n`);
  await json(MODEL_INDEX_FILE, modelIndex(family, marker));
  await mkdir(join(folder, 'scheduler'));
  // ldm's make_beta_schedule("linear"), which every family trained with (Stability-AI/stablediffusion,
  // ldm/modules/diffusionmodules/util.py), in diffusers' names.
  await json(SCHEDULER_CONFIG_FILE, {
    _class_name: 'EulerDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000,
    prediction_type: marker.prediction === 'v' ? 'v_prediction' : 'epsilon',
  });
  for (const part of ['vae_encoder', 'vae_decoder']) await json(`${part}/config.json`, { scaling_factor: FAMILIES[family].vaeScale });
  const { vocabJson, mergesTxt } = vocabularyFiles(await readClipVocabulary());
  for (const [i, encoder] of CHECKPOINT_LAYOUTS[family].textEncoders.entries()) {
    const tokenizer = FAMILIES[family].textEncoders[i]!.tokenizer;
    await mkdir(join(folder, tokenizer));
    await writeFile(join(folder, tokenizer, TOKENIZER_FILES[0]), vocabJson);
    await writeFile(join(folder, tokenizer, TOKENIZER_FILES[1]), mergesTxt);
    await json(`${tokenizer}/${SPECIAL_TOKENS_FILE}`, { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: encoder.padToken });
  }
}
