// The diffusers / optimum ONNX export layout of Stable Diffusion 1.x, 2.x and SDXL models: one folder per
// component with a model.onnx (weights inline or in an external file beside it), the tokenizers, and the
// configs the loader reads the model's settings from. Both the loader's checks and the test-model
// generator read their names from here.

/** The components every family has; SDXL adds `text_encoder_2` (families.ts lists each family's text encoders). */
export const COMPONENTS = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'] as const;
export type TextEncoderComponent = 'text_encoder' | 'text_encoder_2';
export type Component = (typeof COMPONENTS)[number] | TextEncoderComponent;

export const MODEL_FILE = 'model.onnx';
export const EXTERNAL_WEIGHTS_FILE = 'weights.pb';
export const MODEL_INDEX_FILE = 'model_index.json';
export const TOKENIZER_FILES = ['vocab.json', 'merges.txt'] as const;
/** transformers' tokenizer folder file naming the pad token (`pad_token`: a string or `{ content }`). */
export const SPECIAL_TOKENS_FILE = 'special_tokens_map.json';
/** diffusers' scheduler config: its `prediction_type` says whether the UNet predicts ε or v. */
export const SCHEDULER_CONFIG_FILE = 'scheduler/scheduler_config.json';
/** diffusers' AutoencoderKL config beside the decoder (optimum copies it): its `scaling_factor`. */
export const VAE_CONFIG_FILE = 'vae_decoder/config.json';

/** Pixels per latent cell. */
export const VAE_FACTOR = 8;
/** SD's latents have 4 channels in every family here. */
export const LATENT_CHANNELS = 4;

/**
 * What this project's checkpoint converter adds to model_index.json under `latent_upscale`; the loader
 * trusts `family` over any guess and reads `prediction` when the scheduler config does not say.
 */
export const MODEL_INDEX_KEY = 'latent_upscale';
export interface ModelIndexMarker {
  readonly family: 'sd1' | 'sd2' | 'sdxl';
  readonly prediction: 'eps' | 'v';
  readonly source: string;
  readonly precision: 'fp16' | 'fp32';
  /** Where the converter took the prediction from (an option, a .yaml beside the file, a key, the default). */
  readonly prediction_source?: string;
}

/** diffusers' scheduler prediction_type values for the two predictions the pipeline runs. */
export const PREDICTION_TYPES = { epsilon: 'eps', v_prediction: 'v' } as const;

export const INPUTS = {
  text_encoder: { ids: 'input_ids' },
  /** SDXL's added conditions: the pooled text embedding and the size/crop numbers. */
  unet: { sample: 'sample', timestep: 'timestep', context: 'encoder_hidden_states', pooled: 'text_embeds', timeIds: 'time_ids' },
  vae_encoder: { image: 'sample' },
  vae_decoder: { latent: 'latent_sample' },
} as const;

export const OUTPUTS = {
  text_encoder: {
    /** After the final layer norm: clip skip 1 in SD 1.x; SD 2.x's export already ends at the penultimate layer. */
    hidden: 'last_hidden_state',
    pooled: 'pooler_output',
    /** CLIPTextModelWithProjection's pooled and projected output (SDXL's second encoder). */
    projected: 'text_embeds',
  },
  unet: { noise: 'out_sample' },
  /** diffusers exports a sampled `latent_sample`; optimum exports mean ‖ logvar as 8-channel `latent_parameters`. */
  vae_encoder: { sample: 'latent_sample', parameters: 'latent_parameters' },
  vae_decoder: { image: 'sample' },
} as const;

/** transformers' hidden_states[n] as optimum names it: before the final layer norm, index 0 the embeddings. */
export const hiddenStatesOutput = (layer: number): string => `hidden_states.${layer}`;
export const HIDDEN_STATES_PATTERN = /^hidden_states\.(\d+)$/;
/** The converter's SD 1.x clip-skip outputs: final layer norm applied to hidden_states[−n]. */
export const clipSkipOutput = (skip: number): string => `clip_skip_${skip}`;
export const CLIP_SKIP_PATTERN = /^clip_skip_(\d+)$/;

export function modelIndex(family: ModelIndexMarker['family'] = 'sd1', marker?: ModelIndexMarker): Record<string, unknown> {
  const onnx = ['diffusers', 'OnnxRuntimeModel'];
  const sdxl = family === 'sdxl';
  return {
    _class_name: sdxl ? 'ORTStableDiffusionXLPipeline' : 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    text_encoder: onnx,
    ...(sdxl ? { text_encoder_2: onnx, tokenizer_2: ['transformers', 'CLIPTokenizer'] } : {}),
    unet: onnx,
    vae_encoder: onnx,
    vae_decoder: onnx,
    tokenizer: ['transformers', 'CLIPTokenizer'],
    scheduler: ['diffusers', sdxl ? 'EulerDiscreteScheduler' : 'PNDMScheduler'],
    ...(sdxl ? {} : { safety_checker: [null, null], feature_extractor: [null, null], requires_safety_checker: false }),
    ...(marker ? { [MODEL_INDEX_KEY]: marker } : {}),
  };
}
