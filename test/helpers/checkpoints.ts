import type { ModelArchitecture } from '../../src/convert/layouts.js';

/**
 * Attention heads as the upstream configs set them, not as the converter decides: CompVis/stable-diffusion
 * configs/stable-diffusion/v1-inference.yaml `num_heads: 8`; Stability-AI/stablediffusion
 * configs/stable-diffusion/v2-inference(-v).yaml and Stability-AI/generative-models
 * configs/inference/sd_xl_base.yaml `num_head_channels: 64`; open_clip's model configs (ViT-L/14 768 wide,
 * 12 heads; ViT-H-14 1024, 16; ViT-bigG-14 1280, 20): 64 channels per text head.
 */
const UPSTREAM_UNET_HEADS = {
  sd1: { num_heads: 8, num_head_channels: null },
  sd2: { num_heads: null, num_head_channels: 64 },
  sdxl: { num_heads: null, num_head_channels: 64 },
} as const;
const TEXT_HEAD_WIDTH = 64;

/** The architecture in the upstream configs' vocabulary, for test/reference/ldm_reference.py. */
export function upstreamConfig(arch: ModelArchitecture): unknown {
  const { unet, vae } = arch;
  return {
    unet: {
      model_channels: unet.modelChannels, channel_mult: unet.channelMult, num_res_blocks: unet.resBlocks,
      attention_levels: unet.depths.flatMap((d, i) => (d > 0 ? [i] : [])), transformer_depth: unet.depths, transformer_depth_middle: unet.middleDepth,
      ...UPSTREAM_UNET_HEADS[arch.family],
      context_dim: unet.contextWidth, use_linear_in_transformer: unet.linearProjection, adm_in_channels: unet.admWidth ?? null,
    },
    vae: { ch: vae.channels, ch_mult: vae.channelMult, num_res_blocks: vae.resBlocks, z_channels: vae.zChannels },
    text: arch.text.map((text) => ({
      kind: text.flavour, width: text.width, layers: text.layers, heads: text.width / TEXT_HEAD_WIDTH, vocab_size: text.vocabulary,
      context_length: 77, intermediate: text.mlpWidth, projection_dim: text.projection ?? null,
    })),
  };
}
