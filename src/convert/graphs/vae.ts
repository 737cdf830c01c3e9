import { GraphBuilder } from '../../engine/onnx/graph-builder.js';
import type { GraphSpec } from '../../engine/onnx/model.js';
import { INPUTS, OUTPUTS } from '../../models/layout.js';
import type { ShapeReader } from '../shapes.js';
import { Layers, type WeightSource } from './layers.js';

// The KL autoencoder's Encoder and Decoder as ldm builds them (Stability-AI/stablediffusion,
// ldm/modules/diffusionmodules/model.py; SDXL's VAE is the same module in sgm): ResnetBlocks, a
// single-head attention block of 1×1 convolutions in the middle, GroupNorm(32, ε = 1e-6) throughout.

export interface VaeArchitecture {
  readonly channels: number;
  readonly channelMult: readonly number[];
  readonly resBlocks: number;
  readonly zChannels: number;
  /** Latent channels after quant_conv (4 in every SD family). */
  readonly embedDim: number;
}

const NORM_EPSILON = 1e-6;

export function readVaeArchitecture(shapes: ShapeReader): VaeArchitecture {
  const channels = shapes.dim('encoder.conv_in.weight', 4, 0);
  const levels = shapes.count((i) => `encoder.down.${i}.block.0.conv1.weight`);
  if (levels === 0) shapes.fail('no VAE encoder blocks (encoder.down.0.block.0.*) found');
  return {
    channels,
    channelMult: Array.from({ length: levels }, (_, i) => shapes.dim(`encoder.down.${i}.block.0.conv1.weight`, 4, 0) / channels),
    resBlocks: shapes.count((j) => `encoder.down.0.block.${j}.conv1.weight`),
    zChannels: shapes.dim('encoder.conv_out.weight', 4, 0) / 2,
    embedDim: shapes.dim('quant_conv.weight', 4, 0) / 2,
  };
}

class VaeBlocks {
  constructor(readonly nn: Layers) {}

  /** model.py ResnetBlock without a time embedding: shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x)))))). */
  res(x: string, name: string, inputs: number, outputs: number): string {
    const { nn } = this;
    const h = nn.conv(nn.silu(nn.groupNorm(x, `${name}.norm1`, inputs, NORM_EPSILON)), `${name}.conv1`, inputs, outputs, 3);
    const out = nn.conv(nn.silu(nn.groupNorm(h, `${name}.norm2`, outputs, NORM_EPSILON)), `${name}.conv2`, outputs, outputs, 3);
    const shortcut = inputs === outputs ? x : nn.conv(x, `${name}.nin_shortcut`, inputs, outputs, 1);
    return nn.g.op('Add', [shortcut, out]);
  }

  /** model.py AttnBlock: one head over all H·W positions, q/k/v/proj_out as 1×1 convolutions. */
  attention(x: string, name: string, channels: number): string {
    const { nn } = this;
    const normed = nn.groupNorm(x, `${name}.norm`, channels, NORM_EPSILON);
    const [q, k, v] = ['q', 'k', 'v'].map((p) => nn.toSequence(nn.conv(normed, `${name}.${p}`, channels, channels, 1))) as [string, string, string];
    const attended = nn.fromSequence(nn.attention(q, k, v, 1), x);
    return nn.g.op('Add', [x, nn.conv(attended, `${name}.proj_out`, channels, channels, 1)]);
  }

  middle(x: string, prefix: string, channels: number): string {
    const h = this.res(x, `${prefix}.mid.block_1`, channels, channels);
    return this.res(this.attention(h, `${prefix}.mid.attn_1`, channels), `${prefix}.mid.block_2`, channels, channels);
  }

  out(x: string, prefix: string, channels: number, outputs: number): string {
    const { nn } = this;
    return nn.conv(nn.silu(nn.groupNorm(x, `${prefix}.norm_out`, channels, NORM_EPSILON)), `${prefix}.conv_out`, channels, outputs, 3);
  }
}

/** Image in [−1, 1] → `latent_parameters`: mean ‖ log-variance after quant_conv (optimum's encoder output). */
export function vaeEncoderGraph(arch: VaeArchitecture, weights: WeightSource): GraphSpec {
  const g = new GraphBuilder('vae_encoder');
  const blocks = new VaeBlocks(new Layers(g, weights));
  const { nn } = blocks;
  const widths = arch.channelMult.map((m) => m * arch.channels);
  let h = nn.conv(INPUTS.vae_encoder.image, 'encoder.conv_in', 3, arch.channels, 3);
  let channels = arch.channels;
  widths.forEach((width, level) => {
    for (let j = 0; j < arch.resBlocks; j++) {
      h = blocks.res(h, `encoder.down.${level}.block.${j}`, channels, width);
      channels = width;
    }
    // Downsample pads one row and column at the bottom and right only, then a stride-2 3×3 convolution.
    if (level < widths.length - 1) h = nn.conv(h, `encoder.down.${level}.downsample.conv`, channels, channels, 3, { stride: 2, pads: [0, 0, 1, 1] });
  });
  h = blocks.out(blocks.middle(h, 'encoder', channels), 'encoder', channels, 2 * arch.zChannels);
  const moments = nn.conv(h, 'quant_conv', 2 * arch.zChannels, 2 * arch.embedDim, 1);
  return g.build(
    [{ name: INPUTS.vae_encoder.image, type: 'float32', shape: ['batch', 3, 'height', 'width'] }],
    [{ name: OUTPUTS.vae_encoder.parameters, from: moments, type: 'float32', shape: ['batch', 2 * arch.embedDim, 'latent_height', 'latent_width'] }],
  );
}

/** `latent_sample` (unscaled) → image in about [−1, 1]; the deepest level (up.N−1) runs first. */
export function vaeDecoderGraph(arch: VaeArchitecture, weights: WeightSource): GraphSpec {
  const g = new GraphBuilder('vae_decoder');
  const blocks = new VaeBlocks(new Layers(g, weights));
  const { nn } = blocks;
  const widths = arch.channelMult.map((m) => m * arch.channels);
  let channels = widths[widths.length - 1]!;
  const z = nn.conv(INPUTS.vae_decoder.latent, 'post_quant_conv', arch.embedDim, arch.zChannels, 1);
  let h = blocks.middle(nn.conv(z, 'decoder.conv_in', arch.zChannels, channels, 3), 'decoder', channels);
  for (let level = widths.length - 1; level >= 0; level--) {
    for (let j = 0; j <= arch.resBlocks; j++) {
      h = blocks.res(h, `decoder.up.${level}.block.${j}`, channels, widths[level]!);
      channels = widths[level]!;
    }
    if (level > 0) h = nn.conv(nn.upsample2x(h), `decoder.up.${level}.upsample.conv`, channels, channels, 3);
  }
  const image = blocks.out(h, 'decoder', channels, 3);
  return g.build(
    [{ name: INPUTS.vae_decoder.latent, type: 'float32', shape: ['batch', arch.embedDim, 'latent_height', 'latent_width'] }],
    [{ name: OUTPUTS.vae_decoder.image, from: image, type: 'float32', shape: ['batch', 3, 'height', 'width'] }],
  );
}
