import { GraphBuilder } from '../../engine/onnx/graph-builder.js';
import type { GraphSpec, ValueInfo } from '../../engine/onnx/model.js';
import { INPUTS, OUTPUTS } from '../../models/layout.js';
import type { ShapeReader } from '../shapes.js';
import { Layers, type WeightSource } from './layers.js';

// The latent diffusion UNet as ldm's openaimodel.py UNetModel builds it (Stability-AI/stablediffusion,
// ldm/modules/diffusionmodules/openaimodel.py; SDXL's copy in Stability-AI/generative-models,
// sgm/modules/diffusionmodules/openaimodel.py), with ldm/modules/attention.py's SpatialTransformer.
// Keys are `input_blocks.K.…`, `middle_block.…`, `output_blocks.K.…` as in the checkpoint.

export interface UNetArchitecture {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly modelChannels: number;
  /** Channels of each level as multiples of modelChannels (SD 1.x/2.x 1,2,4,4; SDXL 1,2,4). */
  readonly channelMult: readonly number[];
  readonly resBlocks: number;
  /** Transformer blocks per level, 0 where a level has no attention (SDXL: 0, 2, 10). */
  readonly depths: readonly number[];
  readonly middleDepth: number;
  readonly contextWidth: number;
  /** SD 2.x and SDXL project in and out of the transformer with Linear layers, SD 1.x with 1×1 convolutions. */
  readonly linearProjection: boolean;
  /** SD 1.x: 8 heads at every level; SD 2.x and SDXL: heads 64 channels wide. */
  readonly heads: { readonly count: number } | { readonly width: number };
  /** SDXL's `y` width: pooled text embedding ‖ six 256-wide size embeddings (label_emb's input). */
  readonly admWidth?: number;
}

/** Per-size conditioning values SDXL embeds: original (h, w), crop (top, left), target (h, w). */
export const SIZE_CONDITIONS = 6;
const SIZE_EMBEDDING_WIDTH = 256;
const RESBLOCK_NORM_EPSILON = 1e-5;
const TRANSFORMER_NORM_EPSILON = 1e-6;
const LAYER_NORM_EPSILON = 1e-5;

const resBlockKey = (k: number): string => `input_blocks.${k}.0.out_layers.3.weight`;
const downsampleKey = (k: number): string => `input_blocks.${k}.0.op.weight`;
const transformerBlockKey = (block: string, j: number): string => `${block}.transformer_blocks.${j}.attn1.to_q.weight`;

/** Reads the UNet's architecture from its tensor shapes; `heads` is the family's rule. */
export function readUNetArchitecture(shapes: ShapeReader, heads: UNetArchitecture['heads']): UNetArchitecture {
  const modelChannels = shapes.dim('input_blocks.0.0.weight', 4, 0);
  const inChannels = shapes.dim('input_blocks.0.0.weight', 4, 1);
  const levels: { mult: number; resBlocks: number; depth: number }[] = [{ mult: 0, resBlocks: 0, depth: -1 }];
  let firstTransformer: string | undefined;
  for (let k = 1; shapes.has(resBlockKey(k)) || shapes.has(downsampleKey(k)); k++) {
    if (shapes.has(downsampleKey(k))) {
      levels.push({ mult: 0, resBlocks: 0, depth: -1 });
      continue;
    }
    const level = levels[levels.length - 1]!;
    const mult = shapes.dim(resBlockKey(k), 4, 0) / modelChannels;
    const depth = shapes.count((j) => transformerBlockKey(`input_blocks.${k}.1`, j));
    if (depth > 0) firstTransformer ??= `input_blocks.${k}.1`;
    if (level.resBlocks > 0 && (mult !== level.mult || depth !== level.depth)) {
      shapes.fail(`input_blocks.${k} has ${mult * modelChannels} channels and ${depth} transformer blocks, unlike the blocks before it at the same level`);
    }
    Object.assign(level, { mult, depth, resBlocks: level.resBlocks + 1 });
  }
  const resBlocks = levels[0]!.resBlocks;
  if (resBlocks === 0) shapes.fail('no UNet residual blocks (input_blocks.1.0.*) found');
  const odd = levels.findIndex((l) => l.resBlocks !== resBlocks);
  if (odd >= 0) shapes.fail(`UNet level ${odd} has ${levels[odd]!.resBlocks} residual blocks; level 0 has ${resBlocks}`);
  if (firstTransformer === undefined) shapes.fail('the UNet has no transformer blocks');
  return {
    inChannels,
    outChannels: shapes.dim('out.2.weight', 4, 0),
    modelChannels,
    channelMult: levels.map((l) => l.mult),
    resBlocks,
    depths: levels.map((l) => l.depth),
    middleDepth: shapes.count((j) => transformerBlockKey('middle_block.1', j)),
    contextWidth: shapes.dim(`${firstTransformer}.transformer_blocks.0.attn2.to_k.weight`, 2, 1),
    linearProjection: isLinear(shapes, firstTransformer),
    heads,
    ...(shapes.has('label_emb.0.0.weight') ? { admWidth: shapes.dim('label_emb.0.0.weight', 2, 1) } : {}),
  };
}

function isLinear(shapes: ShapeReader, transformer: string): boolean {
  return shapes.shape(`${transformer}.proj_in.weight`).length === 2;
}

export function unetGraph(arch: UNetArchitecture, weights: WeightSource): GraphSpec {
  const g = new GraphBuilder('unet');
  const nn = new Layers(g, weights);
  const mc = arch.modelChannels;
  const embWidth = 4 * mc;
  const names = INPUTS.unet;
  const inputs: ValueInfo[] = [
    { name: names.sample, type: 'float32' as const, shape: ['batch', arch.inChannels, 'height', 'width'] },
    { name: names.timestep, type: 'float32' as const, shape: ['batch'] },
    { name: names.context, type: 'float32' as const, shape: ['batch', 'sequence', arch.contextWidth] },
  ];

  const timeEmbedding = nn.timestepEmbedding(names.timestep, mc);
  let emb = nn.linear(nn.silu(nn.linear(timeEmbedding, 'time_embed.0', mc, embWidth)), 'time_embed.2', embWidth, embWidth);
  if (arch.admWidth !== undefined) {
    const pooledWidth = arch.admWidth - SIZE_CONDITIONS * SIZE_EMBEDDING_WIDTH;
    inputs.push({ name: names.pooled, type: 'float32', shape: ['batch', pooledWidth] }, { name: names.timeIds, type: 'float32', shape: ['batch', SIZE_CONDITIONS] });
    // sgm ConcatTimestepEmbedderND: each size value gets its own 256-wide timestep embedding, flattened in order.
    const sizes = g.op('Reshape', [nn.timestepEmbedding(names.timeIds, SIZE_EMBEDDING_WIDTH), g.int64s([0, -1])]);
    const y = g.op('Concat', [names.pooled, sizes], { axis: { int: 1 } });
    emb = g.op('Add', [emb, nn.linear(nn.silu(nn.linear(y, 'label_emb.0.0', arch.admWidth, embWidth)), 'label_emb.0.2', embWidth, embWidth)]);
  }
  const blocks = new UNetBlocks(nn, arch, emb, names.context);

  let h = nn.conv(names.sample, 'input_blocks.0.0', arch.inChannels, mc, 3);
  let channels = mc;
  const skips: { value: string; channels: number }[] = [{ value: h, channels }];
  let k = 1;
  arch.channelMult.forEach((mult, level) => {
    for (let r = 0; r < arch.resBlocks; r++, k++) {
      h = blocks.res(h, `input_blocks.${k}.0`, channels, mc * mult);
      channels = mc * mult;
      if (arch.depths[level]! > 0) h = blocks.transformer(h, `input_blocks.${k}.1`, channels, arch.depths[level]!);
      skips.push({ value: h, channels });
    }
    if (level < arch.channelMult.length - 1) {
      h = nn.conv(h, `input_blocks.${k}.0.op`, channels, channels, 3, { stride: 2 });
      skips.push({ value: h, channels });
      k++;
    }
  });

  h = blocks.res(h, 'middle_block.0', channels, channels);
  if (arch.middleDepth > 0) h = blocks.transformer(h, 'middle_block.1', channels, arch.middleDepth);
  h = blocks.res(h, `middle_block.${arch.middleDepth > 0 ? 2 : 1}`, channels, channels);

  k = 0;
  [...arch.channelMult.keys()].reverse().forEach((level) => {
    const mult = arch.channelMult[level]!;
    for (let r = 0; r <= arch.resBlocks; r++, k++) {
      const skip = skips.pop()!;
      h = blocks.res(g.op('Concat', [h, skip.value], { axis: { int: 1 } }), `output_blocks.${k}.0`, channels + skip.channels, mc * mult);
      channels = mc * mult;
      let index = 1;
      if (arch.depths[level]! > 0) h = blocks.transformer(h, `output_blocks.${k}.${index++}`, channels, arch.depths[level]!);
      if (level > 0 && r === arch.resBlocks) h = nn.conv(nn.upsample2x(h), `output_blocks.${k}.${index}.conv`, channels, channels, 3);
    }
  });

  const out = nn.conv(nn.silu(nn.groupNorm(h, 'out.0', channels, RESBLOCK_NORM_EPSILON)), 'out.2', channels, arch.outChannels, 3);
  return g.build(inputs, [{ name: OUTPUTS.unet.noise, from: out, type: 'float32', shape: ['batch', arch.outChannels, 'height', 'width'] }]);
}

/** ResBlock and SpatialTransformer, sharing the timestep embedding and the text context. */
class UNetBlocks {
  constructor(private readonly nn: Layers, private readonly arch: UNetArchitecture, private readonly emb: string, private readonly context: string) {}

  /** openaimodel.py ResBlock (no scale-shift norm): skip(x) + conv(silu(norm(conv(silu(norm(x))) + emb))). */
  res(x: string, name: string, inputs: number, outputs: number): string {
    const { nn } = this;
    const g = nn.g;
    const embWidth = 4 * this.arch.modelChannels;
    let h = nn.conv(nn.silu(nn.groupNorm(x, `${name}.in_layers.0`, inputs, RESBLOCK_NORM_EPSILON)), `${name}.in_layers.2`, inputs, outputs, 3);
    h = g.op('Add', [h, g.op('Unsqueeze', [nn.linear(nn.silu(this.emb), `${name}.emb_layers.1`, embWidth, outputs), g.int64s([2, 3])])]);
    h = nn.conv(nn.silu(nn.groupNorm(h, `${name}.out_layers.0`, outputs, RESBLOCK_NORM_EPSILON)), `${name}.out_layers.3`, outputs, outputs, 3);
    const skip = inputs === outputs ? x : nn.conv(x, `${name}.skip_connection`, inputs, outputs, 1);
    return g.op('Add', [skip, h]);
  }

  /** attention.py SpatialTransformer: norm, proj_in, `depth` BasicTransformerBlocks, proj_out, plus the input. */
  transformer(x: string, name: string, channels: number, depth: number): string {
    const { nn, arch } = this;
    const g = nn.g;
    const normed = nn.groupNorm(x, `${name}.norm`, channels, TRANSFORMER_NORM_EPSILON);
    let h = arch.linearProjection
      ? nn.linear(nn.toSequence(normed), `${name}.proj_in`, channels, channels)
      : nn.toSequence(nn.conv(normed, `${name}.proj_in`, channels, channels, 1));
    const heads = 'count' in arch.heads ? arch.heads.count : channels / arch.heads.width;
    for (let j = 0; j < depth; j++) {
      const block = `${name}.transformer_blocks.${j}`;
      const self = nn.layerNorm(h, `${block}.norm1`, channels, LAYER_NORM_EPSILON);
      h = g.op('Add', [h, this.attention(self, self, `${block}.attn1`, channels, channels, heads)]);
      h = g.op('Add', [h, this.attention(nn.layerNorm(h, `${block}.norm2`, channels, LAYER_NORM_EPSILON), this.context, `${block}.attn2`, channels, arch.contextWidth, heads)]);
      // GEGLU: one Linear to twice the inner width, value half times gelu(gate half).
      const inner = 4 * channels;
      const projected = nn.linear(nn.layerNorm(h, `${block}.norm3`, channels, LAYER_NORM_EPSILON), `${block}.ff.net.0.proj`, channels, 2 * inner);
      const half = (part: number): string => g.op('Slice', [projected, g.int64s([part * inner]), g.int64s([(part + 1) * inner]), g.int64s([-1])]);
      h = g.op('Add', [h, nn.linear(g.op('Mul', [half(0), nn.gelu(half(1))]), `${block}.ff.net.2`, inner, channels)]);
    }
    const out = arch.linearProjection
      ? nn.fromSequence(nn.linear(h, `${name}.proj_out`, channels, channels), x)
      : nn.conv(nn.fromSequence(h, x), `${name}.proj_out`, channels, channels, 1);
    return g.op('Add', [x, out]);
  }

  /** CrossAttention: bias-free q/k/v, output Linear with bias. */
  private attention(x: string, context: string, name: string, channels: number, contextWidth: number, heads: number): string {
    const { nn } = this;
    const q = nn.linear(x, `${name}.to_q`, channels, channels, false);
    const k = nn.linear(context, `${name}.to_k`, contextWidth, channels, false);
    const v = nn.linear(context, `${name}.to_v`, contextWidth, channels, false);
    return nn.linear(nn.attention(q, k, v, heads), `${name}.to_out.0`, channels, channels);
  }
}
