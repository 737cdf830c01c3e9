import { access, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import type { ExecutionProvider, SessionPool } from '../engine/session-pool.js';
import type { FloatType } from '../engine/tensors.js';
import { ClipTokenizer } from '../text/clip-tokenizer.js';
import { COMPONENTS, INPUTS, MODEL_FILE, OUTPUTS, TOKENIZER_FILES, type Component } from './layout.js';

/** A model folder that cannot be used; the message names the file and what was expected. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}

/** A loaded Stable Diffusion 1.x ONNX model: sessions created once, I/O types read from the files. */
export interface StableDiffusionModel {
  readonly name: string;
  readonly directory: string;
  readonly tokenizer: ClipTokenizer;
  readonly sessions: Readonly<Record<Component, ort.InferenceSession>>;
  readonly provider: ExecutionProvider;
  /** Why preferred providers were skipped (e.g. CUDA binaries not installed). */
  readonly fallbacks: readonly string[];
  /** Float type of the UNet/VAE inputs and outputs (fp16 exports take and give float16). */
  readonly precision: FloatType;
  readonly textEncoderIds: 'int32' | 'int64';
  /** The UNet's timestep type as the model declares it (float, float16 or int64 depending on the exporter). */
  readonly timestepType: 'float32' | 'float16' | 'int64';
  readonly vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  readonly hiddenSize: number | undefined;
}

type Metadata = ort.InferenceSession.ValueMetadata;

export async function loadModel(directory: string, name: string, pool: SessionPool): Promise<StableDiffusionModel> {
  await expectFile(join(directory, 'model_index.json'), 'the diffusers model index');
  for (const file of TOKENIZER_FILES) await expectFile(join(directory, 'tokenizer', file), 'the CLIP tokenizer');
  for (const component of COMPONENTS) await expectFile(join(directory, component, MODEL_FILE), `the ${component} ONNX model`);
  try {
    JSON.parse(await readFile(join(directory, 'model_index.json'), 'utf8'));
  } catch {
    throw new ModelError(`${join(directory, 'model_index.json')}: not JSON`);
  }
  const tokenizer = await ClipTokenizer.fromDirectory(join(directory, 'tokenizer'));
  const loaded = await Promise.all(COMPONENTS.map(async (component) => {
    const path = join(directory, component, MODEL_FILE);
    try {
      return await pool.get(`${directory}/${component}`, path);
    } catch (error) {
      throw new ModelError(`${path}: onnxruntime cannot load it (${(error as Error).message.split('\n')[0]})`);
    }
  }));
  const sessions = Object.fromEntries(COMPONENTS.map((c, i) => [c, loaded[i]!.session])) as Record<Component, ort.InferenceSession>;
  const file = (component: Component): string => join(directory, component, MODEL_FILE);

  const ids = input(sessions.text_encoder, INPUTS.text_encoder.ids, file('text_encoder'), ['int32', 'int64'], 2);
  const hidden = output(sessions.text_encoder, [OUTPUTS.text_encoder.hidden], file('text_encoder'), 3);
  const sample = input(sessions.unet, INPUTS.unet.sample, file('unet'), ['float32', 'float16'], 4);
  const timestep = input(sessions.unet, INPUTS.unet.timestep, file('unet'), ['float32', 'float16', 'int64'], 1);
  const context = input(sessions.unet, INPUTS.unet.context, file('unet'), ['float32', 'float16'], 3);
  output(sessions.unet, [OUTPUTS.unet.noise], file('unet'), 4);
  input(sessions.vae_encoder, INPUTS.vae_encoder.image, file('vae_encoder'), ['float32', 'float16'], 4);
  const encoded = output(sessions.vae_encoder, [OUTPUTS.vae_encoder.sample, OUTPUTS.vae_encoder.parameters], file('vae_encoder'), 4);
  input(sessions.vae_decoder, INPUTS.vae_decoder.latent, file('vae_decoder'), ['float32', 'float16'], 4);
  output(sessions.vae_decoder, [OUTPUTS.vae_decoder.image], file('vae_decoder'), 4);

  const latentChannels = sample.shape[1];
  if (typeof latentChannels === 'number' && latentChannels !== 4) {
    throw new ModelError(`${file('unet')}: input '${INPUTS.unet.sample}' has ${latentChannels} channels; SD 1.x latents have 4`);
  }
  const textWidth = hidden.shape[2];
  const contextWidth = context.shape[2];
  if (typeof textWidth === 'number' && typeof contextWidth === 'number' && textWidth !== contextWidth) {
    throw new ModelError(`${file('unet')}: '${INPUTS.unet.context}' is ${contextWidth} wide but the text encoder gives ${textWidth}`);
  }
  return {
    name, directory, tokenizer, sessions,
    provider: loaded[0]!.provider,
    fallbacks: [...new Set(loaded.flatMap((l) => l.fallbacks))],
    precision: sample.type as FloatType,
    textEncoderIds: ids.type as 'int32' | 'int64',
    timestepType: timestep.type as 'float32' | 'float16' | 'int64',
    vaeEncoderOutput: encoded.name as 'latent_sample' | 'latent_parameters',
    hiddenSize: typeof contextWidth === 'number' ? contextWidth : undefined,
  };
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
    const isModel = await stat(join(directory, entry, 'model_index.json')).then((s) => s.isFile(), () => false);
    if (isModel) models.push(entry);
  }
  return models;
}

async function expectFile(path: string, what: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new ModelError(`${path}: missing (${what})`);
  }
}

function tensorMetadata(list: readonly Metadata[], name: string): (Metadata & { isTensor: true }) | undefined {
  const found = list.find((m) => m.name === name);
  return found && found.isTensor ? found : undefined;
}

function input(session: ort.InferenceSession, name: string, path: string, types: readonly string[], rank: number) {
  const found = tensorMetadata(session.inputMetadata, name);
  if (found === undefined) {
    throw new ModelError(`${path}: no input '${name}' (inputs: ${session.inputNames.join(', ')}); expected the diffusers ONNX export layout`);
  }
  checkTensor(found, path, 'input', types, rank);
  return found;
}

function output(session: ort.InferenceSession, names: readonly string[], path: string, rank: number) {
  const found = names.map((n) => tensorMetadata(session.outputMetadata, n)).find((m) => m !== undefined);
  if (found === undefined) {
    throw new ModelError(`${path}: no output ${names.map((n) => `'${n}'`).join(' or ')} (outputs: ${session.outputNames.join(', ')})`);
  }
  checkTensor(found, path, 'output', ['float32', 'float16'], rank);
  return found;
}

function checkTensor(metadata: Metadata & { isTensor: true }, path: string, kind: string, types: readonly string[], rank: number): void {
  if (!types.includes(metadata.type)) throw new ModelError(`${path}: ${kind} '${metadata.name}' is ${metadata.type}; expected ${types.join(' or ')}`);
  if (metadata.shape.length > 0 && metadata.shape.length !== rank) {
    throw new ModelError(`${path}: ${kind} '${metadata.name}' has rank ${metadata.shape.length} [${metadata.shape.join(', ')}]; expected rank ${rank}`);
  }
}
