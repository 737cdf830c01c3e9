import { access, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import type { ExecutionProvider, SessionPool } from '../engine/session-pool.js';
import type { FloatType } from '../engine/tensors.js';
import { ClipTokenizer } from '../text/clip-tokenizer.js';
import { FAMILIES, FAMILY_NAMES, type ModelFamily, type Prediction, type TextEncoderSpec } from './families.js';
import {
  CLIP_SKIP_PATTERN, COMPONENTS, HIDDEN_STATES_PATTERN, INPUTS, LATENT_CHANNELS, MODEL_FILE, MODEL_INDEX_FILE, MODEL_INDEX_KEY, OUTPUTS, PREDICTION_TYPES,
  SCHEDULER_CONFIG_FILE, SPECIAL_TOKENS_FILE, TOKENIZER_FILES, VAE_CONFIG_FILE, hiddenStatesOutput, type TextEncoderComponent,
} from './layout.js';

/** A model folder that cannot be used; the message names the file and what was expected. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}

/** One text encoder of a loaded model, with its tokenizer. */
export interface LoadedTextEncoder {
  readonly component: TextEncoderComponent;
  readonly session: ort.InferenceSession;
  readonly tokenizer: ClipTokenizer;
  /** What the 77 ids are padded with: the tokenizer's special_tokens_map.json pad_token, else the end token. */
  readonly padId: number;
  readonly ids: 'int32' | 'int64';
  /** Width of the hidden states the family takes from it. */
  readonly width: number | undefined;
  /** L of its hidden_states.0 … hidden_states.L outputs (its layer count); 0 when it has none. */
  readonly layers: number;
}

/** A loaded Stable Diffusion ONNX model: sessions created once, its family and I/O types read from the files. */
export interface StableDiffusionModel {
  readonly name: string;
  readonly directory: string;
  readonly family: ModelFamily;
  /** What the UNet predicts: ε, or v (SD 2.x 768-v and other v-prediction models). */
  readonly prediction: Prediction;
  /** latent = vaeScale · VAE mean: vae_decoder/config.json's scaling_factor, else the family's. */
  readonly vaeScale: number;
  /** The family's text encoders, in its order. */
  readonly textEncoders: readonly LoadedTextEncoder[];
  readonly sessions: Readonly<Record<'unet' | 'vae_encoder' | 'vae_decoder', ort.InferenceSession>>;
  readonly provider: ExecutionProvider;
  /** Why preferred providers were skipped (e.g. CUDA binaries not installed). */
  readonly fallbacks: readonly string[];
  /** Float type of the UNet's sample (fp16 exports take and give float16). */
  readonly precision: FloatType;
  readonly vaeEncoderPrecision: FloatType;
  /** A float16 SDXL decoder overflows unless it is the fp16-fix VAE. */
  readonly vaeDecoderPrecision: FloatType;
  /** Float types of the UNet's conditioning inputs by name: encoder_hidden_states and the family's unetInputs. */
  readonly conditioningTypes: Readonly<Record<string, FloatType>>;
  /** The UNet's timestep type as the model declares it (float, float16 or int64 depending on the exporter). */
  readonly timestepType: 'float32' | 'float16' | 'int64';
  readonly vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  /** Width of the UNet's encoder_hidden_states. */
  readonly hiddenSize: number | undefined;
  /** The largest clip skip the text encoder's outputs offer (clip_skip_2 … clip_skip_N); 1 when none. */
  readonly maxClipSkip: number;
}

type Metadata = ort.InferenceSession.ValueMetadata;
type TensorMetadata = Metadata & { isTensor: true };
type JsonObject = Record<string, unknown>;

/**
 * Loads a diffusers/optimum ONNX folder. The family is, first that applies: model_index.json's
 * latent_upscale.family (this project's converter writes it); text_encoder_2/model.onnx present → sdxl;
 * the UNet's encoder_hidden_states 1024 wide (OpenCLIP ViT-H) → sd2; otherwise sd1. The prediction is
 * scheduler/scheduler_config.json's prediction_type, else latent_upscale.prediction, else ε.
 */
export async function loadModel(directory: string, name: string, pool: SessionPool): Promise<StableDiffusionModel> {
  const index = await readJson(join(directory, MODEL_INDEX_FILE), 'the diffusers model index');
  if (index === undefined) throw new ModelError(`${join(directory, MODEL_INDEX_FILE)}: missing (the diffusers model index)`);
  const marker = objectAt(index, MODEL_INDEX_KEY);
  const file = (component: string): string => join(directory, component, MODEL_FILE);
  const session = async (component: string): Promise<Awaited<ReturnType<SessionPool['get']>>> => {
    try {
      return await pool.get(`${directory}/${component}`, file(component));
    } catch (error) {
      throw new ModelError(`${file(component)}: onnxruntime cannot load it (${(error as Error).message.split('\n')[0]})`);
    }
  };
  // What every family has is checked before any session loads; the family's own files once it is known.
  await expectFamilyFiles(directory, FAMILIES.sd1);
  for (const component of COMPONENTS) await expectFile(file(component), `the ${component} ONNX model`);

  const prediction = await readPrediction(directory, marker);

  const unetFile = file('unet');
  const unet = await session('unet');
  const sample = input(unet.session, INPUTS.unet.sample, unetFile, ['float32', 'float16'], 4);
  const context = input(unet.session, INPUTS.unet.context, unetFile, ['float32', 'float16'], 3);
  const { family, why } = await detectFamily(directory, marker, context);
  try {
    await expectFamilyFiles(directory, family);
    const vaeScale = await readVaeScale(directory, family);
    const [vaeEncoder, vaeDecoder, ...encoderSessions] = await Promise.all([
      session('vae_encoder'), session('vae_decoder'), ...family.textEncoders.map((spec) => session(spec.component)),
    ]);
    const textEncoders = await Promise.all(family.textEncoders.map((spec, i) => loadTextEncoder(directory, spec, encoderSessions[i]!.session)));
    const timestep = input(unet.session, INPUTS.unet.timestep, unetFile, ['float32', 'float16', 'int64'], 1);
    const extras = family.unetInputs.map((name) => input(unet.session, name, unetFile, ['float32', 'float16'], 2));
    output(unet.session, [OUTPUTS.unet.noise], unetFile, 4);
    const vaeImage = input(vaeEncoder!.session, INPUTS.vae_encoder.image, file('vae_encoder'), ['float32', 'float16'], 4);
    const encoded = output(vaeEncoder!.session, [OUTPUTS.vae_encoder.sample, OUTPUTS.vae_encoder.parameters], file('vae_encoder'), 4);
    const vaeLatent = input(vaeDecoder!.session, INPUTS.vae_decoder.latent, file('vae_decoder'), ['float32', 'float16'], 4);
    output(vaeDecoder!.session, [OUTPUTS.vae_decoder.image], file('vae_decoder'), 4);

    const latentChannels = sample.shape[1];
    if (typeof latentChannels === 'number' && latentChannels !== LATENT_CHANNELS) {
      throw new ModelError(`${unetFile}: input '${INPUTS.unet.sample}' has ${latentChannels} channels; ${family.label} latents have ${LATENT_CHANNELS}`);
    }
    checkContextWidth(context, textEncoders, unetFile);
    const pooled = extras.find((m) => m.name === INPUTS.unet.pooled);
    if (pooled !== undefined) checkPooledWidth(pooled, textEncoders, family, unetFile);
    const sessionsLoaded = [unet, vaeEncoder!, vaeDecoder!, ...encoderSessions];
    return {
      name, directory, family, prediction, vaeScale, textEncoders,
      sessions: { unet: unet.session, vae_encoder: vaeEncoder!.session, vae_decoder: vaeDecoder!.session },
      provider: unet.provider,
      fallbacks: [...new Set(sessionsLoaded.flatMap((l) => l.fallbacks))],
      precision: sample.type as FloatType,
      vaeEncoderPrecision: vaeImage.type as FloatType,
      vaeDecoderPrecision: vaeLatent.type as FloatType,
      conditioningTypes: Object.fromEntries([context, ...extras].map((m) => [m.name, m.type as FloatType])),
      timestepType: timestep.type as 'float32' | 'float16' | 'int64',
      vaeEncoderOutput: encoded.name as 'latent_sample' | 'latent_parameters',
      hiddenSize: typeof context.shape[2] === 'number' ? context.shape[2] : undefined,
      maxClipSkip: family.clipSkip ? maxClipSkip(textEncoders[0]!.session) : 1,
    };
  } catch (error) {
    if (error instanceof ModelError) throw new ModelError(`${error.message} [read as ${family.label}: ${why}]`);
    throw error;
  }
}

/** The family and why it was chosen (the loader's errors say it, since a wrong guess explains most of them). */
async function detectFamily(directory: string, marker: JsonObject | undefined, context: TensorMetadata): Promise<{ family: ModelFamily; why: string }> {
  const declared = marker?.['family'];
  if (declared !== undefined) {
    if (typeof declared !== 'string' || !(FAMILY_NAMES as readonly string[]).includes(declared)) {
      throw new ModelError(`${join(directory, MODEL_INDEX_FILE)}: ${MODEL_INDEX_KEY}.family is ${JSON.stringify(declared)}; expected one of ${FAMILY_NAMES.join(', ')}`);
    }
    return { family: FAMILIES[declared as keyof typeof FAMILIES], why: `${MODEL_INDEX_FILE} ${MODEL_INDEX_KEY}.family` };
  }
  if (await exists(join(directory, 'text_encoder_2', MODEL_FILE))) return { family: FAMILIES.sdxl, why: `text_encoder_2/${MODEL_FILE} is present` };
  if (context.shape[2] === 1024) return { family: FAMILIES.sd2, why: `the UNet's ${INPUTS.unet.context} is 1024 wide` };
  return { family: FAMILIES.sd1, why: `no ${MODEL_INDEX_KEY}.family, no text_encoder_2, ${INPUTS.unet.context} ${context.shape[2] ?? '(dynamic)'} wide` };
}

async function loadTextEncoder(directory: string, spec: TextEncoderSpec, session: ort.InferenceSession): Promise<LoadedTextEncoder> {
  const path = join(directory, spec.component, MODEL_FILE);
  const folder = join(directory, spec.tokenizer);
  const tokenizer = await ClipTokenizer.fromDirectory(folder);
  const ids = input(session, INPUTS.text_encoder.ids, path, ['int32', 'int64'], 2);
  const layers = Math.max(0, ...session.outputNames.map((n) => Number(HIDDEN_STATES_PATTERN.exec(n)?.[1] ?? 0)));
  let hidden: TensorMetadata;
  if (spec.context === 'hidden_states') {
    if (layers < 1) throw new ModelError(`${path}: no hidden_states.N outputs (outputs: ${session.outputNames.join(', ')}); export it with output_hidden_states`);
    hidden = output(session, [hiddenStatesOutput(layers - 1)], path, 3);
  } else {
    hidden = output(session, [OUTPUTS.text_encoder.hidden], path, 3);
  }
  if (spec.pooled) output(session, [OUTPUTS.text_encoder.projected], path, 2);
  return {
    component: spec.component, session, tokenizer, padId: await readPadId(folder, tokenizer),
    ids: ids.type as 'int32' | 'int64', width: typeof hidden.shape[2] === 'number' ? hidden.shape[2] : undefined, layers,
  };
}

/** The pad token of a transformers tokenizer folder (a string, or an AddedToken object with `content`), as an id. */
export async function readPadId(folder: string, tokenizer: ClipTokenizer): Promise<number> {
  const path = join(folder, SPECIAL_TOKENS_FILE);
  const pad = (await readJson(path, 'the special tokens map'))?.['pad_token'];
  const token = typeof pad === 'string' ? pad : typeof pad === 'object' && pad !== null ? (pad as JsonObject)['content'] : undefined;
  if (token === undefined) return tokenizer.endId;
  const id = typeof token === 'string' ? tokenizer.tokenId(token) : undefined;
  if (id === undefined) throw new ModelError(`${path}: pad_token ${JSON.stringify(token)} is not in ${join(folder, 'vocab.json')}`);
  return id;
}

/** N when the encoder has clip_skip_2 … clip_skip_N (each an [batch, 77, D] output), else 1. */
function maxClipSkip(session: ort.InferenceSession): number {
  const offered = new Set(session.outputNames.map((n) => Number(CLIP_SKIP_PATTERN.exec(n)?.[1])).filter(Number.isInteger));
  let skip = 1;
  while (offered.has(skip + 1)) skip++;
  return skip;
}

async function readPrediction(directory: string, marker: JsonObject | undefined): Promise<Prediction> {
  const path = join(directory, SCHEDULER_CONFIG_FILE);
  const type = (await readJson(path, 'the scheduler config'))?.['prediction_type'];
  if (type !== undefined) {
    const prediction = PREDICTION_TYPES[type as keyof typeof PREDICTION_TYPES];
    if (typeof type !== 'string' || prediction === undefined) {
      throw new ModelError(`${path}: prediction_type ${JSON.stringify(type)} is not supported (allowed: ${Object.keys(PREDICTION_TYPES).join(', ')})`);
    }
    return prediction;
  }
  const declared = marker?.['prediction'];
  if (declared === undefined) return 'eps';
  if (declared !== 'eps' && declared !== 'v') {
    throw new ModelError(`${join(directory, MODEL_INDEX_FILE)}: ${MODEL_INDEX_KEY}.prediction is ${JSON.stringify(declared)}; expected eps or v`);
  }
  return declared;
}

async function readVaeScale(directory: string, family: ModelFamily): Promise<number> {
  const path = join(directory, VAE_CONFIG_FILE);
  const scale = (await readJson(path, 'the VAE config'))?.['scaling_factor'];
  if (scale === undefined) return family.vaeScale;
  if (typeof scale !== 'number' || !(scale > 0)) throw new ModelError(`${path}: scaling_factor ${JSON.stringify(scale)} is not a positive number`);
  return scale;
}

/** The UNet's context is the text encoders' hidden states side by side (one encoder: just its own). */
function checkContextWidth(context: TensorMetadata, encoders: readonly LoadedTextEncoder[], path: string): void {
  const widths = encoders.map((e) => e.width);
  const contextWidth = context.shape[2];
  if (typeof contextWidth !== 'number' || !widths.every((w): w is number => w !== undefined)) return;
  const total = widths.reduce((a, b) => a + b, 0);
  if (total !== contextWidth) {
    throw new ModelError(`${path}: '${INPUTS.unet.context}' is ${contextWidth} wide but the text encoders give ${widths.join(' + ')}${widths.length > 1 ? ` = ${total}` : ''}`);
  }
}

function checkPooledWidth(pooled: TensorMetadata, encoders: readonly LoadedTextEncoder[], family: ModelFamily, path: string): void {
  const index = family.textEncoders.findIndex((spec) => spec.pooled);
  const encoder = encoders[index]!;
  const given = tensorMetadata(encoder.session.outputMetadata, OUTPUTS.text_encoder.projected)!.shape[1];
  const taken = pooled.shape[1];
  if (typeof given === 'number' && typeof taken === 'number' && given !== taken) {
    throw new ModelError(`${path}: '${INPUTS.unet.pooled}' is ${taken} wide but ${encoder.component}'s '${OUTPUTS.text_encoder.projected}' is ${given}`);
  }
}

/** Subfolders of `directory` that hold a model_index.json, by folder name. */
export async function findModels(directory: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch {
    throw new ModelError(`MODELS_DIR ${directory}: cannot read the folder`);
  }
  const models: string[] = [];
  for (const entry of entries.sort()) {
    const isModel = await stat(join(directory, entry, MODEL_INDEX_FILE)).then((s) => s.isFile(), () => false);
    if (isModel) models.push(entry);
  }
  return models;
}

/** The family's text encoders and their tokenizers. */
async function expectFamilyFiles(directory: string, family: ModelFamily): Promise<void> {
  for (const spec of family.textEncoders) {
    const tokenizer = spec.tokenizer === 'tokenizer' ? 'the CLIP tokenizer' : `the CLIP tokenizer of ${spec.component}`;
    for (const name of TOKENIZER_FILES) await expectFile(join(directory, spec.tokenizer, name), tokenizer);
    await expectFile(join(directory, spec.component, MODEL_FILE), `the ${spec.component} ONNX model`);
  }
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

async function expectFile(path: string, what: string): Promise<void> {
  if (!(await exists(path))) throw new ModelError(`${path}: missing (${what})`);
}

/** A JSON object file, or undefined when the file is absent. */
async function readJson(path: string, what: string): Promise<JsonObject | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelError(`${path}: not JSON (${what})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ModelError(`${path}: not a JSON object (${what})`);
  return parsed as JsonObject;
}

function objectAt(object: JsonObject, key: string): JsonObject | undefined {
  const value = object[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

function tensorMetadata(list: readonly Metadata[], name: string): TensorMetadata | undefined {
  const found = list.find((m) => m.name === name);
  return found && found.isTensor ? found : undefined;
}

function input(session: ort.InferenceSession, name: string, path: string, types: readonly string[], rank: number): TensorMetadata {
  const found = tensorMetadata(session.inputMetadata, name);
  if (found === undefined) {
    throw new ModelError(`${path}: no input '${name}' (inputs: ${session.inputNames.join(', ')}); expected the diffusers ONNX export layout`);
  }
  checkTensor(found, path, 'input', types, rank);
  return found;
}

function output(session: ort.InferenceSession, names: readonly string[], path: string, rank: number): TensorMetadata {
  const found = names.map((n) => tensorMetadata(session.outputMetadata, n)).find((m) => m !== undefined);
  if (found === undefined) {
    throw new ModelError(`${path}: no output ${names.map((n) => `'${n}'`).join(' or ')} (outputs: ${session.outputNames.join(', ')})`);
  }
  checkTensor(found, path, 'output', ['float32', 'float16'], rank);
  return found;
}

function checkTensor(metadata: TensorMetadata, path: string, kind: string, types: readonly string[], rank: number): void {
  if (!types.includes(metadata.type)) throw new ModelError(`${path}: ${kind} '${metadata.name}' is ${metadata.type}; expected ${types.join(' or ')}`);
  if (metadata.shape.length > 0 && metadata.shape.length !== rank) {
    throw new ModelError(`${path}: ${kind} '${metadata.name}' has rank ${metadata.shape.length} [${metadata.shape.join(', ')}]; expected rank ${rank}`);
  }
}
