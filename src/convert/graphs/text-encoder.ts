import { GraphBuilder } from '../../engine/onnx/graph-builder.js';
import type { GraphSpec } from '../../engine/onnx/model.js';
import { INPUTS, OUTPUTS, clipSkipOutput, hiddenStatesOutput } from '../../models/layout.js';
import { CONTEXT_LENGTH } from '../../text/clip-tokenizer.js';
import type { ShapeReader } from '../shapes.js';
import { Layers, type WeightSource } from './layers.js';

// The two text transformers Stable Diffusion conditions on. Both are pre-LayerNorm causal transformers
// that differ in names and in one activation:
// - OpenAI CLIP ViT-L/14 in Hugging Face's naming (transformers' models/clip/modeling_clip.py,
//   CLIPTextTransformer): SD 1.x, and SDXL's first encoder; quick GELU.
// - OpenCLIP (mlfoundations/open_clip, src/open_clip/transformer.py TextTransformer): ViT-H in SD 2.x,
//   ViT-bigG in SDXL's second encoder; exact GELU, fused in_proj, and a text_projection stored [width, proj].
// Heads are 64 channels wide in both.

export type TextFlavour = 'clip' | 'openclip';

export interface TextArchitecture {
  readonly flavour: TextFlavour;
  readonly width: number;
  readonly layers: number;
  readonly vocabulary: number;
  readonly mlpWidth: number;
  /** OpenCLIP's text_projection output width (the pooled vector SDXL conditions on). */
  readonly projection?: number;
}

/** Which outputs a family's conditioning reads (the loader finds them by these names). */
export type TextOutputs =
  /** SD 1.x: `last_hidden_state` and `clip_skip_N` = final norm of hidden_states[−N], N ≥ 2 (A1111's CLIP_stop_at_last_layers). */
  | 'clip-skips'
  /** SD 2.x: `last_hidden_state` = ln_final of the penultimate layer (ldm FrozenOpenCLIPEmbedder, layer="penultimate"); the last layer is not run. */
  | 'penultimate'
  /** SDXL: `hidden_states.0…L` without the final norm (transformers' convention) and `last_hidden_state`; plus `text_embeds` where there is a projection. */
  | 'hidden-states';

const HEAD_WIDTH = 64;
const LAYER_NORM_EPSILON = 1e-5;

interface Names {
  tokens: string;
  positions: string;
  layer: (i: number) => string;
  finalNorm: string;
  /** Norm, attention output and MLP names, relative to a layer. */
  norm1: string;
  norm2: string;
  fc1: string;
  fc2: string;
  out: string;
}

const NAMES: Record<TextFlavour, Names> = {
  clip: {
    tokens: 'text_model.embeddings.token_embedding.weight', positions: 'text_model.embeddings.position_embedding.weight',
    layer: (i) => `text_model.encoder.layers.${i}.`, finalNorm: 'text_model.final_layer_norm',
    norm1: 'layer_norm1', norm2: 'layer_norm2', fc1: 'mlp.fc1', fc2: 'mlp.fc2', out: 'self_attn.out_proj',
  },
  openclip: {
    tokens: 'token_embedding.weight', positions: 'positional_embedding',
    layer: (i) => `transformer.resblocks.${i}.`, finalNorm: 'ln_final',
    norm1: 'ln_1', norm2: 'ln_2', fc1: 'mlp.c_fc', fc2: 'mlp.c_proj', out: 'attn.out_proj',
  },
};

/** Reads a text encoder's architecture from its tensor shapes. */
export function readTextArchitecture(shapes: ShapeReader, flavour: TextFlavour): TextArchitecture {
  const names = NAMES[flavour];
  const vocabulary = shapes.dim(names.tokens, 2, 0);
  const width = shapes.dim(names.tokens, 2, 1);
  const layers = shapes.count((i) => `${names.layer(i)}${names.norm1}.weight`);
  const mlpWidth = shapes.dim(`${names.layer(0)}${names.fc1}.weight`, 2, 0);
  const projection = flavour === 'openclip' && shapes.has('text_projection') ? shapes.dim('text_projection', 2, 1) : undefined;
  return { flavour, width, layers, vocabulary, mlpWidth, ...(projection === undefined ? {} : { projection }) };
}

export function textEncoderGraph(arch: TextArchitecture, weights: WeightSource, outputs: TextOutputs): GraphSpec {
  const g = new GraphBuilder('text_encoder');
  const nn = new Layers(g, weights);
  const names = NAMES[arch.flavour];
  const { width } = arch;
  const ids = INPUTS.text_encoder.ids;

  const tokens = g.op('Gather', [nn.weight(names.tokens, [arch.vocabulary, width]), ids]);
  let x = g.op('Add', [tokens, nn.weight(names.positions, [CONTEXT_LENGTH, width])]);
  // Causal: position i attends to positions ≤ i (−∞ above the diagonal, as both implementations build it).
  const mask = g.floats(Array.from({ length: CONTEXT_LENGTH * CONTEXT_LENGTH }, (_, k) => (k % CONTEXT_LENGTH > Math.floor(k / CONTEXT_LENGTH) ? -Infinity : 0)), [CONTEXT_LENGTH, CONTEXT_LENGTH]);
  const run = outputs === 'penultimate' ? arch.layers - 1 : arch.layers;
  const hidden = [x];
  for (let i = 0; i < run; i++) hidden.push(x = transformerLayer(nn, arch, x, i, mask));
  // Layers the family does not run must still be in the file, with the right shapes.
  const unused = new Layers(new GraphBuilder('unused'), expectOnly(weights));
  for (let i = run; i < arch.layers; i++) transformerLayer(unused, arch, x, i, mask);
  const finalNorm = (v: string): string => nn.layerNorm(v, names.finalNorm, width, LAYER_NORM_EPSILON);

  const sequence = (name: string, from: string) => ({ name, from, type: 'float32' as const, shape: ['batch', CONTEXT_LENGTH, width] });
  const graphOutputs = [sequence(OUTPUTS.text_encoder.hidden, finalNorm(x))];
  if (outputs === 'clip-skips') {
    for (let skip = 2; skip <= arch.layers; skip++) graphOutputs.push(sequence(clipSkipOutput(skip), finalNorm(hidden[arch.layers + 1 - skip]!)));
  }
  if (outputs === 'hidden-states') hidden.forEach((h, i) => graphOutputs.push(sequence(hiddenStatesOutput(i), h)));
  if (outputs === 'hidden-states' && arch.projection !== undefined) {
    graphOutputs.push({ name: OUTPUTS.text_encoder.projected, from: pooled(g, finalNorm(x), ids, nn.weight('text_projection', [width, arch.projection])), type: 'float32', shape: ['batch', arch.projection] });
  } else if (arch.flavour === 'openclip' && arch.projection !== undefined) {
    weights.expect('text_projection', [width, arch.projection]);
  }
  return g.build([{ name: ids, type: 'int32', shape: ['batch', CONTEXT_LENGTH] }], graphOutputs);
}

/** One pre-LayerNorm block: x + attention(norm1(x)), then x + mlp(norm2(x)). */
function transformerLayer(nn: Layers, arch: TextArchitecture, x: string, i: number, mask: string): string {
  const g = nn.g;
  const { width } = arch;
  const names = NAMES[arch.flavour];
  const prefix = names.layer(i);
  const normed = nn.layerNorm(x, `${prefix}${names.norm1}`, width, LAYER_NORM_EPSILON);
  let q: string, k: string, v: string;
  if (arch.flavour === 'clip') {
    [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((p) => nn.linear(normed, `${prefix}self_attn.${p}`, width, width)) as [string, string, string];
  } else {
    const packed = nn.linear(normed, `${prefix}attn.in_proj`, width, 3 * width, true, '_weight', '_bias');
    [q, k, v] = [0, 1, 2].map((part) => g.op('Slice', [packed, g.int64s([part * width]), g.int64s([(part + 1) * width]), g.int64s([-1])])) as [string, string, string];
  }
  const attended = g.op('Add', [x, nn.linear(nn.maskedAttention(q, k, v, width / HEAD_WIDTH, width, mask), `${prefix}${names.out}`, width, width)]);
  const hidden = nn.linear(nn.layerNorm(attended, `${prefix}${names.norm2}`, width, LAYER_NORM_EPSILON), `${prefix}${names.fc1}`, width, arch.mlpWidth);
  const activated = arch.flavour === 'clip' ? nn.quickGelu(hidden) : nn.gelu(hidden);
  return g.op('Add', [attended, nn.linear(activated, `${prefix}${names.fc2}`, arch.mlpWidth, width)]);
}

/** A source that only checks the weights a scratch graph asks for. */
function expectOnly(weights: WeightSource): WeightSource {
  return {
    tensor: (_, name, shape) => {
      weights.expect(name, shape);
      return name;
    },
    expect: (name, shape) => weights.expect(name, shape),
  };
}

/**
 * OpenCLIP's pooled output: the normed last layer at the end token, found as the first position of the
 * largest id (the end token 49407 is the largest; open_clip text_global_pool 'argmax'), times text_projection.
 */
function pooled(g: GraphBuilder, normed: string, ids: string, projection: string): string {
  const end = g.op('ArgMax', [g.op('Cast', [ids], { to: { int: 1 } })], { axis: { int: -1 }, keepdims: { int: 1 } });
  const positions = g.floats(Array.from({ length: CONTEXT_LENGTH }, (_, i) => i));
  const atEnd = g.op('Cast', [g.op('Equal', [positions, g.op('Cast', [end], { to: { int: 1 } })])], { to: { int: 1 } });
  const selected = g.op('ReduceSum', [g.op('Mul', [normed, g.op('Unsqueeze', [atEnd, g.int64s([-1])])]), g.int64s([1])], { keepdims: { int: 0 } });
  return g.op('MatMul', [selected, projection]);
}
