import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from '../engine/onnx/graph-builder.js';
import { encodeModel, rawBytes, type ElementType, type GraphSpec } from '../engine/onnx/model.js';
import { floatToHalf } from '../latent/float16.js';
import { TorchGenerator } from '../random/torch-generator.js';
import { byteVocabulary, vocabularyFiles, type ClipVocabulary } from '../text/clip-tokenizer.js';
import { COMPONENTS, EXTERNAL_WEIGHTS_FILE, INPUTS, MODEL_FILE, OUTPUTS, modelIndex, type Component } from './layout.js';

// Tiny random-weight Stable Diffusion models with exactly the diffusers ONNX I/O signatures (names, dtypes,
// ranks, dynamic axes), so the whole pipeline runs in tests without downloading weights. The variants
// cover what real exports differ in: fp16 I/O and weights, optimum's 8-channel VAE encoder, an int64
// timestep, and the UNet's weights in an external weights.pb.

export interface TestModelOptions {
  readonly precision: 'fp32' | 'fp16';
  readonly vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  readonly timestep: 'float' | 'int64';
  readonly externalData: boolean;
  /** Width of the text embeddings (768 in SD 1.x; small here). */
  readonly hiddenSize: number;
  /** UNet width and residual depth: raise them to make a step cost what a small real UNet costs. */
  readonly unetChannels: number;
  readonly unetDepth: number;
  readonly vocabulary: ClipVocabulary;
  readonly seed: number;
}

export const DEFAULT_TEST_MODEL: TestModelOptions = {
  precision: 'fp32', vaeEncoderOutput: 'latent_sample', timestep: 'float', externalData: false,
  hiddenSize: 16, unetChannels: 8, unetDepth: 1, vocabulary: byteVocabulary(), seed: 0,
};

/** Writes model_index.json, tokenizer/ and one folder per component into `directory`. */
export async function writeTestModel(directory: string, overrides: Partial<TestModelOptions> = {}): Promise<void> {
  const options = { ...DEFAULT_TEST_MODEL, ...overrides };
  const weights = new TorchGenerator(options.seed);
  await mkdir(join(directory, 'tokenizer'), { recursive: true });
  const { vocabJson, mergesTxt } = vocabularyFiles(options.vocabulary);
  await writeFile(join(directory, 'tokenizer', 'vocab.json'), vocabJson);
  await writeFile(join(directory, 'tokenizer', 'merges.txt'), mergesTxt);
  await writeFile(join(directory, 'model_index.json'), JSON.stringify(modelIndex(), null, 2));
  for (const component of COMPONENTS) {
    const external: Uint8Array[] = [];
    const graph = GRAPHS[component](new WeightSource(weights, options, component === 'unet' && options.externalData ? external : undefined), options);
    await mkdir(join(directory, component), { recursive: true });
    await writeFile(join(directory, component, MODEL_FILE), encodeModel(graph));
    if (external.length > 0) await writeFile(join(directory, component, EXTERNAL_WEIGHTS_FILE), Buffer.concat(external));
  }
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

const GRAPHS: Record<Component, GraphFactory> = {
  text_encoder(weights, options) {
    const g = new GraphBuilder('text_encoder');
    const d = options.hiddenSize;
    const embedded = g.op('Gather', [weights.add(g, 'token_embedding', [options.vocabulary.vocab.size, d], 0.5), INPUTS.text_encoder.ids]);
    const hidden = g.op('Tanh', [g.op('Add', [g.op('MatMul', [embedded, weights.add(g, 'projection', [d, d], 0.3)]), weights.add(g, 'projection_bias', [d], 0.1)])]);
    const pooled = g.op('ReduceMean', [hidden], { axes: { ints: [1] }, keepdims: { int: 0 } });
    return g.build(
      [{ name: INPUTS.text_encoder.ids, type: 'int32', shape: ['batch', 'sequence'] }],
      [
        { name: OUTPUTS.text_encoder.hidden, from: fromFloat(g, hidden, options), type: floatType(options), shape: ['batch', 'sequence', d] },
        { name: OUTPUTS.text_encoder.pooled, from: fromFloat(g, pooled, options), type: floatType(options), shape: ['batch', d] },
      ],
    );
  },

  unet(weights, options) {
    const g = new GraphBuilder('unet');
    const c = options.unetChannels;
    const sample = toFloat(g, INPUTS.unet.sample, options);
    const timestep = options.timestep === 'int64' || options.precision === 'fp16' ? g.op('Cast', [INPUTS.unet.timestep], { to: { int: 1 } }) : INPUTS.unet.timestep;
    let h = conv(g, sample, weights.add(g, 'conv_in', [c, 4, 3, 3], 0.3), weights.add(g, 'conv_in_bias', [c], 0.05));
    const t = g.op('Reshape', [g.op('Mul', [timestep, g.floats([1 / 1000])]), g.int64s([-1, 1, 1, 1])]);
    h = g.op('Add', [h, g.op('Sin', [g.op('Mul', [t, weights.add(g, 'time_embedding', [1, c, 1, 1], 3)])])]);
    const context = g.op('ReduceMean', [toFloat(g, INPUTS.unet.context, options)], { axes: { ints: [1] }, keepdims: { int: 0 } });
    const projected = g.op('MatMul', [context, weights.add(g, 'context_projection', [options.hiddenSize, c], 0.3)]);
    h = g.op('Add', [h, g.op('Reshape', [projected, g.int64s([-1, c, 1, 1])])]);
    for (let block = 0; block < options.unetDepth; block++) {
      h = g.op('Add', [h, conv(g, silu(g, h), weights.add(g, `block_${block}`, [c, c, 3, 3], 0.05), weights.add(g, `block_${block}_bias`, [c], 0.01))]);
    }
    const out = conv(g, silu(g, h), weights.add(g, 'conv_out', [4, c, 3, 3], 0.05), weights.add(g, 'conv_out_bias', [4], 0.01));
    return g.build(
      [
        { name: INPUTS.unet.sample, type: floatType(options), shape: ['batch', 4, 'height', 'width'] },
        { name: INPUTS.unet.timestep, type: options.timestep === 'int64' ? 'int64' : floatType(options), shape: ['batch'] },
        { name: INPUTS.unet.context, type: floatType(options), shape: ['batch', 'sequence', options.hiddenSize] },
      ],
      [{ name: OUTPUTS.unet.noise, from: fromFloat(g, out, options), type: floatType(options), shape: ['batch', 4, 'height', 'width'] }],
    );
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
