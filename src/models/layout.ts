// The diffusers / optimum ONNX export layout of a Stable Diffusion 1.x model (latent-math.md §6.1):
// one folder per component with a model.onnx (weights inline or in an external file beside it).
// Both the loader's checks and the test-model generator read their names from here.

export const COMPONENTS = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'] as const;
export type Component = (typeof COMPONENTS)[number];

export const MODEL_FILE = 'model.onnx';
export const EXTERNAL_WEIGHTS_FILE = 'weights.pb';
export const TOKENIZER_FILES = ['vocab.json', 'merges.txt'] as const;

/** SD's VAE scaling factor (latent = 0.18215 · VAE mean). */
export const VAE_SCALE = 0.18215;
/** Pixels per latent cell. */
export const VAE_FACTOR = 8;

export const INPUTS = {
  text_encoder: { ids: 'input_ids' },
  unet: { sample: 'sample', timestep: 'timestep', context: 'encoder_hidden_states' },
  vae_encoder: { image: 'sample' },
  vae_decoder: { latent: 'latent_sample' },
} as const;

export const OUTPUTS = {
  text_encoder: { hidden: 'last_hidden_state', pooled: 'pooler_output' },
  unet: { noise: 'out_sample' },
  /** diffusers exports a sampled `latent_sample`; optimum exports mean ‖ logvar as 8-channel `latent_parameters`. */
  vae_encoder: { sample: 'latent_sample', parameters: 'latent_parameters' },
  vae_decoder: { image: 'sample' },
} as const;

export function modelIndex(): Record<string, unknown> {
  return {
    _class_name: 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
    vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
    vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    scheduler: ['diffusers', 'PNDMScheduler'],
    safety_checker: [null, null],
    feature_extractor: [null, null],
    requires_safety_checker: false,
  };
}
