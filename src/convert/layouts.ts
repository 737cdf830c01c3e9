import type { GraphSpec } from '../engine/onnx/model.js';
import { FAMILIES, type FamilyName } from '../models/families.js';
import { LATENT_CHANNELS } from '../models/layout.js';
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

/** Where a family's text encoder sits in the file; its output folders are FAMILIES[family].textEncoders, in the same order. */
export interface TextEncoderLayout {
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
}

const CLIP_L = { flavour: 'clip', padToken: '<|endoftext|>' } as const;
const OPEN_CLIP = { flavour: 'openclip', padToken: '!' } as const;

export const CHECKPOINT_LAYOUTS: Record<FamilyName, CheckpointLayout> = {
  sd1: {
    family: 'sd1', marker: 'cond_stage_model.transformer.text_model.final_layer_norm.weight',
    unetHeads: { count: 8 },
    textEncoders: [{ ...CLIP_L, prefix: 'cond_stage_model.transformer.', outputs: 'clip-skips' }],
  },
  sd2: {
    family: 'sd2', marker: 'cond_stage_model.model.ln_final.weight',
    unetHeads: { width: 64 },
    textEncoders: [{ ...OPEN_CLIP, prefix: 'cond_stage_model.model.', outputs: 'penultimate' }],
  },
  sdxl: {
    family: 'sdxl', marker: 'conditioner.embedders.1.model.ln_final.weight',
    unetHeads: { width: 64 },
    textEncoders: [
      { ...CLIP_L, prefix: 'conditioner.embedders.0.transformer.', outputs: 'hidden-states' },
      { ...OPEN_CLIP, prefix: 'conditioner.embedders.1.model.', outputs: 'hidden-states' },
    ],
  },
};

/** The family whose marker key the file holds (SDXL first: its files hold no SD 1.x/2.x marker, but be explicit). */
export function detectFamily(has: (key: string) => boolean): FamilyName | undefined {
  return (['sdxl', 'sd2', 'sd1'] as const).find((family) => has(CHECKPOINT_LAYOUTS[family].marker));
}

/** Checkpoints of kinds people have that are not run here, told by a key only they hold, with why. */
export const UNSUPPORTED_KINDS: readonly { readonly marker: string; readonly why: string }[] = [
  { marker: 'conditioner.embedders.0.model.ln_final.weight', why: 'an SDXL refiner (its only text encoder is OpenCLIP bigG and it conditions on an aesthetic score); only SDXL base models run here' },
];

/**
 * SD 1.x files saved with transformers before 4.x name CLIP's tensors without `text_model.`; A1111 renames
 * them on load (modules/sd_models.py, checkpoint_dict_replacements_sd1), and so do we.
 */
const LEGACY_CLIP_KEYS: readonly (readonly [string, string])[] = ['embeddings.', 'encoder.', 'final_layer_norm.'].map((part) => [
  `cond_stage_model.transformer.${part}`, `cond_stage_model.transformer.text_model.${part}`,
]);

export function modernKey(key: string): string {
  const legacy = LEGACY_CLIP_KEYS.find(([from]) => key.startsWith(from));
  return legacy === undefined ? key : legacy[1] + key.slice(legacy[0].length);
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
  const unet = readUNetArchitecture(checkpoint.under(UNET_PREFIX), layout.unetHeads);
  // Inpainting (9 input channels), instruct-pix2pix (8) and unCLIP (an adm input outside SDXL) UNets take
  // conditions this pipeline does not give: refuse them here, before gigabytes are written.
  if (unet.inChannels !== LATENT_CHANNELS || unet.outChannels !== LATENT_CHANNELS) {
    checkpoint.fail(`its UNet takes ${unet.inChannels} and gives ${unet.outChannels} channels, not ${LATENT_CHANNELS}: an inpainting or instruct model, which is not run here`);
  }
  if ((unet.admWidth !== undefined) !== (family === 'sdxl')) {
    checkpoint.fail(family === 'sdxl' ? 'its UNet has no label_emb (the SDXL size and pooled-text input)' : `its UNet has a label_emb input (an unCLIP or other variant of ${family}), which is not run here`);
  }
  const text = layout.textEncoders.map((t) => readTextArchitecture(checkpoint.under(t.prefix), t.flavour));
  if (family === 'sdxl' && text[1]!.projection === undefined) checkpoint.fail(`'${layout.textEncoders[1]!.prefix}text_projection' is missing (SDXL's pooled text embedding needs it)`);
  return { family, unet, vae: readVaeArchitecture(vae), text };
}

/** One ONNX graph of the output folder: its folder, the checkpoint prefix its weights sit under, and its builder. */
export interface ComponentGraph {
  readonly folder: string;
  readonly prefix: string;
  build(weights: WeightSource): GraphSpec;
}

export function componentGraphs(arch: ModelArchitecture, vaePrefix = VAE_PREFIX): ComponentGraph[] {
  const layout = CHECKPOINT_LAYOUTS[arch.family];
  const folders = FAMILIES[arch.family].textEncoders;
  return [
    ...layout.textEncoders.map((t, i) => ({ folder: folders[i]!.component, prefix: t.prefix, build: (w: WeightSource) => textEncoderGraph(arch.text[i]!, w, t.outputs) })),
    { folder: 'unet', prefix: UNET_PREFIX, build: (w: WeightSource) => unetGraph(arch.unet, w) },
    { folder: 'vae_encoder', prefix: vaePrefix, build: (w: WeightSource) => vaeEncoderGraph(arch.vae, w) },
    { folder: 'vae_decoder', prefix: vaePrefix, build: (w: WeightSource) => vaeDecoderGraph(arch.vae, w) },
  ];
}
