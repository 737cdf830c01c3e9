import type { GraphSpec } from '../engine/onnx/model.js';
import type { FamilyName } from '../models/families.js';
import type { WeightSource } from './graphs/layers.js';
import { readTextArchitecture, textEncoderGraph, type TextArchitecture, type TextFlavour, type TextOutputs } from './graphs/text-encoder.js';
import { readUNetArchitecture, unetGraph, type UNetArchitecture } from './graphs/unet.js';
import { readVaeArchitecture, vaeDecoderGraph, vaeEncoderGraph, type VaeArchitecture } from './graphs/vae.js';
import type { ShapeReader } from './shapes.js';

// Where each family keeps its networks in a single-file checkpoint (ldm/sgm state-dict key names), and
// which graphs of the diffusers ONNX layout they become. Families are told apart by their text encoders,
// as A1111's sd_models_config.guess_model_config_from_state_dict and ComfyUI's model_detection.py do.


export const UNET_PREFIX = 'model.diffusion_model.';
export const VAE_PREFIX = 'first_stage_model.';

export interface TextEncoderLayout {
  /** Output folder and its tokenizer folder in the diffusers layout. */
  readonly folder: 'text_encoder' | 'text_encoder_2';
  readonly tokenizerFolder: 'tokenizer' | 'tokenizer_2';
  readonly prefix: string;
  readonly flavour: TextFlavour;
  readonly outputs: TextOutputs;
  /** CLIP pads with the end token; OpenCLIP's tokenizer pads with 0, which is "!" in CLIP's vocabulary. */
  readonly padToken: '<|endoftext|>' | '!';
}

export interface CheckpointLayout {
  readonly family: FamilyName;
  /** A key only this family's files hold. */
  readonly marker: string;
  readonly unetHeads: UNetArchitecture['heads'];
  readonly textEncoders: readonly TextEncoderLayout[];
  /** model_index.json's _class_name, as diffusers/optimum name the pipeline. */
  readonly pipelineClass: string;
}

const CLIP_L = { flavour: 'clip', padToken: '<|endoftext|>' } as const;
const OPEN_CLIP = { flavour: 'openclip', padToken: '!' } as const;

export const CHECKPOINT_LAYOUTS: Record<FamilyName, CheckpointLayout> = {
  sd1: {
    family: 'sd1', marker: 'cond_stage_model.transformer.text_model.final_layer_norm.weight',
    unetHeads: { count: 8 }, pipelineClass: 'OnnxStableDiffusionPipeline',
    textEncoders: [{ ...CLIP_L, folder: 'text_encoder', tokenizerFolder: 'tokenizer', prefix: 'cond_stage_model.transformer.', outputs: 'clip-skips' }],
  },
  sd2: {
    family: 'sd2', marker: 'cond_stage_model.model.ln_final.weight',
    unetHeads: { width: 64 }, pipelineClass: 'OnnxStableDiffusionPipeline',
    textEncoders: [{ ...OPEN_CLIP, folder: 'text_encoder', tokenizerFolder: 'tokenizer', prefix: 'cond_stage_model.model.', outputs: 'penultimate' }],
  },
  sdxl: {
    family: 'sdxl', marker: 'conditioner.embedders.1.model.ln_final.weight',
    unetHeads: { width: 64 }, pipelineClass: 'ORTStableDiffusionXLPipeline',
    textEncoders: [
      { ...CLIP_L, folder: 'text_encoder', tokenizerFolder: 'tokenizer', prefix: 'conditioner.embedders.0.transformer.', outputs: 'hidden-states' },
      { ...OPEN_CLIP, folder: 'text_encoder_2', tokenizerFolder: 'tokenizer_2', prefix: 'conditioner.embedders.1.model.', outputs: 'hidden-states' },
    ],
  },
};

/** The family whose marker key the file holds (SDXL first: its files hold no SD 1.x/2.x marker, but be explicit). */
export function detectFamily(has: (key: string) => boolean): FamilyName | undefined {
  return (['sdxl', 'sd2', 'sd1'] as const).find((family) => has(CHECKPOINT_LAYOUTS[family].marker));
}

export interface ModelArchitecture {
  readonly family: FamilyName;
  readonly unet: UNetArchitecture;
  readonly vae: VaeArchitecture;
  /** One per text encoder of the family, in the layout's order. */
  readonly text: readonly TextArchitecture[];
}

export function readArchitecture(family: FamilyName, checkpoint: ShapeReader, vae: ShapeReader): ModelArchitecture {
  const layout = CHECKPOINT_LAYOUTS[family];
  return {
    family,
    unet: readUNetArchitecture(checkpoint.under(UNET_PREFIX), layout.unetHeads),
    vae: readVaeArchitecture(vae),
    text: layout.textEncoders.map((t) => readTextArchitecture(checkpoint.under(t.prefix), t.flavour)),
  };
}

/** One ONNX graph of the output folder: its folder, the checkpoint prefix its weights sit under, and its builder. */
export interface ComponentGraph {
  readonly folder: string;
  readonly prefix: string;
  build(weights: WeightSource): GraphSpec;
}

export function componentGraphs(arch: ModelArchitecture, vaePrefix = VAE_PREFIX): ComponentGraph[] {
  const layout = CHECKPOINT_LAYOUTS[arch.family];
  return [
    ...layout.textEncoders.map((t, i) => ({ folder: t.folder, prefix: t.prefix, build: (w: WeightSource) => textEncoderGraph(arch.text[i]!, w, t.outputs) })),
    { folder: 'unet', prefix: UNET_PREFIX, build: (w: WeightSource) => unetGraph(arch.unet, w) },
    { folder: 'vae_encoder', prefix: vaePrefix, build: (w: WeightSource) => vaeEncoderGraph(arch.vae, w) },
    { folder: 'vae_decoder', prefix: vaePrefix, build: (w: WeightSource) => vaeDecoderGraph(arch.vae, w) },
  ];
}
