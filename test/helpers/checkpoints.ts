import type { ModelArchitecture } from '../../src/convert/layouts.js';

/** The architecture in the upstream configs' vocabulary (v1-inference.yaml, sd_xl_base.yaml, open_clip's model configs). */
export function upstreamConfig(arch: ModelArchitecture): unknown {
  const { unet, vae } = arch;
  return {
    unet: {
      model_channels: unet.modelChannels, channel_mult: unet.channelMult, num_res_blocks: unet.resBlocks,
      attention_levels: unet.depths.flatMap((d, i) => (d > 0 ? [i] : [])), transformer_depth: unet.depths, transformer_depth_middle: unet.middleDepth,
      num_heads: 'count' in unet.heads ? unet.heads.count : null, num_head_channels: 'width' in unet.heads ? unet.heads.width : null,
      context_dim: unet.contextWidth, use_linear_in_transformer: unet.linearProjection, adm_in_channels: unet.admWidth ?? null,
    },
    vae: { ch: vae.channels, ch_mult: vae.channelMult, num_res_blocks: vae.resBlocks, z_channels: vae.zChannels },
    text: arch.text.map((text) => ({
      kind: text.flavour, width: text.width, layers: text.layers, heads: text.width / 64, vocab_size: text.vocabulary,
      context_length: 77, intermediate: text.mlpWidth, projection_dim: text.projection ?? null,
    })),
  };
}
