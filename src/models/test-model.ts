import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GraphBuilder } from '../engine/onnx/graph-builder.js';
import { encodeModel, rawBytes, type ElementType, type GraphSpec, type ValueInfo } from '../engine/onnx/model.js';
import { floatToHalf } from '../latent/float16.js';
import { TorchGenerator } from '../random/torch-generator.js';
import { byteVocabulary, vocabularyFiles, type ClipVocabulary } from '../text/clip-tokenizer.js';
import { FAMILIES, type FamilyName, type Prediction } from './families.js';
import {
  EXTERNAL_WEIGHTS_FILE, INPUTS, LATENT_CHANNELS, MODEL_FILE, MODEL_INDEX_FILE, OUTPUTS, PREDICTION_TYPES, SCHEDULER_CONFIG_FILE, SPECIAL_TOKENS_FILE,
  VAE_CONFIG_FILE, clipSkipOutput, hiddenStatesOutput, modelIndex, type Component, type ModelIndexMarker,
} from './layout.js';

// Tiny random-weight Stable Diffusion models with exactly the diffusers ONNX I/O signatures (names, dtypes,
// ranks, dynamic axes), so the whole pipeline runs in tests without downloading weights. The variants
// cover what real exports differ in: the family (SD 1.x, SD 2.x, SDXL with its second text encoder and
// added UNet inputs), ε or v prediction, fp16 I/O and weights, optimum's 8-channel VAE encoder, an int64
// timestep, and the UNet's weights in an external weights.pb. Beside the graphs they get the files the
// loader reads settings from: model_index.json with this project's latent_upscale marker, the scheduler
// config, the VAE config and each tokenizer's special tokens map.

export interface TestModelOptions {
  readonly family: FamilyName;
  readonly prediction: Prediction;
  readonly precision: 'fp32' | 'fp16';
  readonly vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  readonly timestep: 'float' | 'int64';
  readonly externalData: boolean;
  /** Width of the (first) text encoder's hidden states (768 in SD 1.x and SDXL, 1024 in SD 2.x; small here). */
  readonly hiddenSize: number;
  /** SDXL: width of the second text encoder's hidden states (1280 in SDXL) and of its pooled text_embeds. */
  readonly hiddenSize2: number;
  readonly pooledSize: number;
  /** SD 1.x: the text encoder also gives clip_skip_2 … clip_skip_N (1: none). */
  readonly maxClipSkip: number;
  /** UNet width and residual depth: raise them to make a step cost what a small real UNet costs. */
  readonly unetChannels: number;
  readonly unetDepth: number;
  readonly vocabulary: ClipVocabulary;
  readonly seed: number;
}

export const DEFAULT_TEST_MODEL: TestModelOptions = {
  family: 'sd1', prediction: 'eps', precision: 'fp32', vaeEncoderOutput: 'latent_sample', timestep: 'float', externalData: false,
  hiddenSize: 16, hiddenSize2: 24, pooledSize: 12, maxClipSkip: 1, unetChannels: 8, unetDepth: 1, vocabulary: byteVocabulary(), seed: 0,
};

/** Layers of each test text encoder: enough for a penultimate layer and every clip skip asked for. */
const textLayers = (options: TestModelOptions): number => Math.max(2, options.maxClipSkip);

/** The pad tokens of the tokenizers the families ship: CLIP-L pads with its end token, OpenCLIP with "!". */
const OPENCLIP_PAD = { content: '!', lstrip: false, normalized: false, rstrip: false, single_word: false };

/** Writes model_index.json, the tokenizers, the configs and one folder per component into `directory`. */
export async function writeTestModel(directory: string, overrides: Partial<TestModelOptions> = {}): Promise<void> {
  const options = { ...DEFAULT_TEST_MODEL, ...overrides };
  const family = FAMILIES[options.family];
  const weights = new TorchGenerator(options.seed);
  const { vocabJson, mergesTxt } = vocabularyFiles(options.vocabulary);
  for (const spec of family.textEncoders) {
    const pad = options.family === 'sd1' || spec.component === 'text_encoder' && options.family === 'sdxl' ? '<|endoftext|>' : OPENCLIP_PAD;
    await mkdir(join(directory, spec.tokenizer), { recursive: true });
    await writeFile(join(directory, spec.tokenizer, 'vocab.json'), vocabJson);
    await writeFile(join(directory, spec.tokenizer, 'merges.txt'), mergesTxt);
    await writeFile(join(directory, spec.tokenizer, SPECIAL_TOKENS_FILE), JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: pad }, null, 2));
  }
  const marker: ModelIndexMarker = { family: options.family, prediction: options.prediction, source: 'make-test-model', precision: options.precision };
  await writeFile(join(directory, MODEL_INDEX_FILE), JSON.stringify(modelIndex(options.family, marker), null, 2));
  const predictionType = Object.entries(PREDICTION_TYPES).find(([, ours]) => ours === options.prediction)![0];
  await writeJsonFile(join(directory, SCHEDULER_CONFIG_FILE), {
    _class_name: 'EulerDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, prediction_type: predictionType,
  });
  const components: Component[] = [...family.textEncoders.map((spec) => spec.component), 'unet', 'vae_encoder', 'vae_decoder'];
  for (const component of components) {
    const external: Uint8Array[] = [];
    const graph = GRAPHS[component](new WeightSource(weights, options, component === 'unet' && options.externalData ? external : undefined), options);
    await mkdir(join(directory, component), { recursive: true });
    await writeFile(join(directory, component, MODEL_FILE), encodeModel(graph));
    if (external.length > 0) await writeFile(join(directory, component, EXTERNAL_WEIGHTS_FILE), Buffer.concat(external));
  }
  await writeJsonFile(join(directory, VAE_CONFIG_FILE), { _class_name: 'AutoencoderKL', latent_channels: LATENT_CHANNELS, scaling_factor: family.vaeScale });
}

async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2));
}

/** Random weights (seeded, scaled), stored as fp32 or fp16 and cast to fp32 inside the graph. */
class WeightSource {
  private offset = 0;

  constructor(private readonly random: TorchGenerator, private readonly options: TestModelOptions, private readonly external?: Uint8Array[]) {}

  add(g: GraphBuilder, name: string, dims: readonly number[], scale: number): string {
    const values = this.random.randn(dims.reduce((a, b) => a * b, 1)).map((v) => v * scale);
    const half = this.options.precision === 'fp16';
    const bytes = half ? rawBytes(Uint16Array.from(values, floatToHalf)) : rawBytes(values);
    const type: ElementType = half ? 'float16' : 'float32';
    let raw: Uint8Array | { location: string; offset: number; length: number } = bytes;
    if (this.external) {
      raw = { location: EXTERNAL_WEIGHTS_FILE, offset: this.offset, length: bytes.length };
      this.external.push(bytes);
      this.offset += bytes.length;
    }
    const stored = g.initializer(name, type, dims, raw);
    return half ? g.op('Cast', [stored], { to: { int: 1 } }) : stored;
  }
}

const floatType = (options: TestModelOptions): ElementType => (options.precision === 'fp16' ? 'float16' : 'float32');
/** Model inputs arrive in the model's precision; compute in fp32 inside. */
const toFloat = (g: GraphBuilder, name: string, options: TestModelOptions): string => (options.precision === 'fp16' ? g.op('Cast', [name], { to: { int: 1 } }) : name);
const fromFloat = (g: GraphBuilder, name: string, options: TestModelOptions): string => (options.precision === 'fp16' ? g.op('Cast', [name], { to: { int: 10 } }) : name);
const silu = (g: GraphBuilder, x: string): string => g.op('Mul', [x, g.op('Sigmoid', [x])]);
const conv = (g: GraphBuilder, x: string, weight: string, bias: string, attributes: Record<string, { ints: number[] }> = { pads: { ints: [1, 1, 1, 1] } }): string => g.op('Conv', [x, weight, bias], attributes);

type GraphFactory = (weights: WeightSource, options: TestModelOptions) => GraphSpec;

/**
 * A CLIP-shaped text encoder: token embeddings, `layers` tanh layers, a final layer norm. Outputs follow
 * the family's layout: last_hidden_state and pooler_output always; SD 1.x's clip_skip_n (the final norm of
 * hidden_states[−n]); SDXL's hidden_states.0 … hidden_states.L and, on the second encoder, text_embeds.
 */
function textEncoder(name: string, weights: WeightSource, options: TestModelOptions, width: number, ids: 'int32' | 'int64', pooled: boolean): GraphSpec {
  const g = new GraphBuilder(name);
  const hidden = [g.op('Gather', [weights.add(g, 'token_embedding', [options.vocabulary.vocab.size, width], 0.5), INPUTS.text_encoder.ids])];
  for (let layer = 1; layer <= textLayers(options); layer++) {
    const projected = g.op('MatMul', [hidden[layer - 1]!, weights.add(g, `layer_${layer}`, [width, width], 0.6)]);
    hidden.push(g.op('Tanh', [g.op('Add', [projected, weights.add(g, `layer_${layer}_bias`, [width], 0.1)])]));
  }
  const scale = weights.add(g, 'final_norm', [width], 0.3);
  const bias = weights.add(g, 'final_norm_bias', [width], 0.1);
  const finalNorm = (x: string): string => g.op('LayerNormalization', [x, scale, bias], { epsilon: { float: 1e-5 } });
  const last = finalNorm(hidden[hidden.length - 1]!);
  const sequenceOutput = (outputName: string, from: string) => ({ name: outputName, from: fromFloat(g, from, options), type: floatType(options), shape: ['batch', 'sequence', width] });
  const outputs = [
    sequenceOutput(OUTPUTS.text_encoder.hidden, last),
    { name: OUTPUTS.text_encoder.pooled, from: fromFloat(g, g.op('ReduceMean', [last], { axes: { ints: [1] }, keepdims: { int: 0 } }), options), type: floatType(options), shape: ['batch', width] },
  ];
  if (options.family === 'sdxl') outputs.push(...hidden.map((h, layer) => sequenceOutput(hiddenStatesOutput(layer), h)));
  else for (let skip = 2; skip <= options.maxClipSkip; skip++) outputs.push(sequenceOutput(clipSkipOutput(skip), finalNorm(hidden[hidden.length - skip]!)));
  if (pooled) {
    const mean = g.op('ReduceMean', [last], { axes: { ints: [1] }, keepdims: { int: 0 } });
    const projection = g.op('MatMul', [mean, weights.add(g, 'text_projection', [width, options.pooledSize], 0.5)]);
    outputs.push({ name: OUTPUTS.text_encoder.projected, from: fromFloat(g, projection, options), type: floatType(options), shape: ['batch', options.pooledSize] });
  }
  return g.build([{ name: INPUTS.text_encoder.ids, type: ids, shape: ['batch', 'sequence'] }], outputs);
}

/** The UNet's context width: the text encoders' hidden states side by side. */
const contextWidth = (options: TestModelOptions): number => options.hiddenSize + (options.family === 'sdxl' ? options.hiddenSize2 : 0);

/** [batch, n] → a per-channel bias [batch, c, 1, 1] through a learned projection. */
function channelBias(g: GraphBuilder, weights: WeightSource, name: string, vector: string, n: number, c: number): string {
  return g.op('Reshape', [g.op('MatMul', [vector, weights.add(g, name, [n, c], 0.3)]), g.int64s([-1, c, 1, 1])]);
}

const GRAPHS: Record<Component, GraphFactory> = {
  text_encoder: (weights, options) => textEncoder('text_encoder', weights, options, options.hiddenSize, 'int32', false),
  // int64 ids on the second encoder, so both id types run through one model.
  text_encoder_2: (weights, options) => textEncoder('text_encoder_2', weights, options, options.hiddenSize2, 'int64', true),

  unet(weights, options) {
    const g = new GraphBuilder('unet');
    const c = options.unetChannels;
    const sample = toFloat(g, INPUTS.unet.sample, options);
    const timestep = options.timestep === 'int64' || options.precision === 'fp16' ? g.op('Cast', [INPUTS.unet.timestep], { to: { int: 1 } }) : INPUTS.unet.timestep;
    let h = conv(g, sample, weights.add(g, 'conv_in', [c, 4, 3, 3], 0.3), weights.add(g, 'conv_in_bias', [c], 0.05));
    const t = g.op('Reshape', [g.op('Mul', [timestep, g.floats([1 / 1000])]), g.int64s([-1, 1, 1, 1])]);
    h = g.op('Add', [h, g.op('Sin', [g.op('Mul', [t, weights.add(g, 'time_embedding', [1, c, 1, 1], 3)])])]);
    const context = g.op('ReduceMean', [toFloat(g, INPUTS.unet.context, options)], { axes: { ints: [1] }, keepdims: { int: 0 } });
    h = g.op('Add', [h, channelBias(g, weights, 'context_projection', context, contextWidth(options), c)]);
    const inputs: ValueInfo[] = [
      { name: INPUTS.unet.sample, type: floatType(options), shape: ['batch', 4, 'height', 'width'] },
      { name: INPUTS.unet.timestep, type: options.timestep === 'int64' ? 'int64' : floatType(options), shape: ['batch'] },
      { name: INPUTS.unet.context, type: floatType(options), shape: ['batch', 'sequence', contextWidth(options)] },
    ];
    if (options.family === 'sdxl') {
      // SDXL's added conditions, each through its own projection: a wrong pooled vector or size changes the output.
      h = g.op('Add', [h, channelBias(g, weights, 'pooled_projection', toFloat(g, INPUTS.unet.pooled, options), options.pooledSize, c)]);
      const sizes = g.op('Sin', [g.op('Mul', [toFloat(g, INPUTS.unet.timeIds, options), g.floats([1 / 100])])]);
      h = g.op('Add', [h, channelBias(g, weights, 'time_ids_projection', sizes, 6, c)]);
      inputs.push(
        { name: INPUTS.unet.pooled, type: floatType(options), shape: ['batch', options.pooledSize] },
        { name: INPUTS.unet.timeIds, type: floatType(options), shape: ['batch', 6] },
      );
    }
    for (let block = 0; block < options.unetDepth; block++) {
      h = g.op('Add', [h, conv(g, silu(g, h), weights.add(g, `block_${block}`, [c, c, 3, 3], 0.05), weights.add(g, `block_${block}_bias`, [c], 0.01))]);
    }
    const out = conv(g, silu(g, h), weights.add(g, 'conv_out', [4, c, 3, 3], 0.05), weights.add(g, 'conv_out_bias', [4], 0.01));
    return g.build(inputs, [{ name: OUTPUTS.unet.noise, from: fromFloat(g, out, options), type: floatType(options), shape: ['batch', 4, 'height', 'width'] }]);
  },

  vae_encoder(weights, options) {
    const g = new GraphBuilder('vae_encoder');
    const channels = options.vaeEncoderOutput === 'latent_parameters' ? 8 : 4;
    const latent = conv(g, toFloat(g, INPUTS.vae_encoder.image, options), weights.add(g, 'patchify', [channels, 3, 8, 8], 0.05), weights.add(g, 'patchify_bias', [channels], 0.05), { strides: { ints: [8, 8] } });
    return g.build(
      [{ name: INPUTS.vae_encoder.image, type: floatType(options), shape: ['batch', 3, 'height', 'width'] }],
      [{ name: options.vaeEncoderOutput, from: fromFloat(g, latent, options), type: floatType(options), shape: ['batch', channels, 'latent_height', 'latent_width'] }],
    );
  },

  vae_decoder(weights, options) {
    const g = new GraphBuilder('vae_decoder');
    // A 3×3 convolution before the 8× unpatchify gives each pixel a neighbourhood, so tiling has seams to hide.
    const mixed = conv(g, toFloat(g, INPUTS.vae_decoder.latent, options), weights.add(g, 'mix', [4, 4, 3, 3], 0.2), weights.add(g, 'mix_bias', [4], 0.02));
    const pixels = g.op('ConvTranspose', [mixed, weights.add(g, 'unpatchify', [4, 3, 8, 8], 0.3), weights.add(g, 'unpatchify_bias', [3], 0.05)], { strides: { ints: [8, 8] } });
    return g.build(
      [{ name: INPUTS.vae_decoder.latent, type: floatType(options), shape: ['batch', 4, 'latent_height', 'latent_width'] }],
      [{ name: OUTPUTS.vae_decoder.image, from: fromFloat(g, g.op('Tanh', [pixels]), options), type: floatType(options), shape: ['batch', 3, 'height', 'width'] }],
    );
  },
};
