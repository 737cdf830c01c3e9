import { UserError, unknownName } from '../errors.js';
import { INPUTS, OUTPUTS, clipSkipOutput, hiddenStatesOutput, type TextEncoderComponent } from './layout.js';

// The model families the native backend runs, as data plus one conditioning rule each. Everything else
// that differs between them (which sigma table, VAE scale, text encoders and UNet inputs) is read from
// here, so the pipeline has no per-family branches.

export const FAMILY_NAMES = ['sd1', 'sd2', 'sdxl'] as const;
export type FamilyName = (typeof FAMILY_NAMES)[number];
export type Prediction = 'eps' | 'v';

/** A float tensor as the pipeline passes it around: values and dims, batch first. */
export interface Embedding {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** What the UNet is conditioned on in one batch-2 call, the unconditional half first (as diffusers batches it). */
export interface Conditioning {
  /** encoder_hidden_states, [2, 77, D]. */
  readonly context: Embedding;
  /** The family's further UNet inputs by name (SDXL: text_embeds [2, P], time_ids [2, 6]). */
  readonly extra: Readonly<Record<string, Embedding>>;
}

export interface ConditioningRequest {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly clipSkip: number;
  /** The target size in pixels: SDXL's size conditioning. */
  readonly width: number;
  readonly height: number;
}

/** What a conditioning rule knows of a loaded text encoder. */
export interface TextEncoderView {
  /** L of its hidden_states.0 … hidden_states.L outputs (its layer count); 0 when it has none. */
  readonly layers: number;
}

/** Runs the model's text encoder `index` on `texts` (one batch row each) and returns the named outputs. */
export type RunTextEncoder = (index: number, texts: readonly string[], outputs: readonly string[]) => Promise<Embedding[]>;

/** One text encoder folder of a family and what the family reads from it. */
export interface TextEncoderSpec {
  readonly component: TextEncoderComponent;
  readonly tokenizer: 'tokenizer' | 'tokenizer_2';
  /** The context comes from `last_hidden_state` (and SD 1.x's clip_skip_N), or from `hidden_states.N`. */
  readonly context: 'last_hidden_state' | 'hidden_states';
  /** The encoder gives the pooled `text_embeds` the UNet takes. */
  readonly pooled: boolean;
}

export interface ModelFamily {
  readonly name: FamilyName;
  /** For people: /models, the logs and error messages. */
  readonly label: string;
  /** The SigmaTable (schedules/sigma-table.ts) its samplers and schedulers use. */
  readonly sigmaTable: 'sd1' | 'sdxl';
  /** The VAE scaling factor when vae_decoder/config.json does not give one. */
  readonly vaeScale: number;
  /**
   * What to use instead when the family's VAE overflows float16 (SDXL's does in its mid-block
   * activations, which is why madebyollin/sdxl-vae-fp16-fix exists; diffusers upcasts it: force_upcast).
   */
  readonly fp16VaeRemedy?: string;
  /** Whether CLIP_stop_at_last_layers (clip_skip > 1) applies. */
  readonly clipSkip: boolean;
  readonly textEncoders: readonly TextEncoderSpec[];
  /** UNet inputs beyond sample, timestep and encoder_hidden_states, each [batch, n]. */
  readonly unetInputs: readonly string[];
  readonly condition: (encoders: readonly TextEncoderView[], run: RunTextEncoder, request: ConditioningRequest) => Promise<Conditioning>;
  /** RGB per latent channel for cheap previews (latent → [−1, 1] RGB as a linear map). */
  readonly previewFactors: PreviewFactors;
}

/** Four rows (latent channels) of [r, g, b]. */
export type PreviewFactors = readonly (readonly [number, number, number])[];

// A1111's "Approx cheap" (modules/sd_vae_approx.py cheap_approximation, v1.10), fitted on SD 1.4 latents
// (https://discuss.huggingface.co/t/decoding-latents-to-rgb-without-upscaling/23204/2); A1111 uses the
// same for SD 2.x, and its own fit for SDXL.
const SD_PREVIEW_FACTORS: PreviewFactors = [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]];
const SDXL_PREVIEW_FACTORS: PreviewFactors = [[0.3448, 0.4168, 0.4395], [-0.1953, -0.029, 0.025], [0.1074, 0.0886, -0.0163], [-0.373, -0.2499, -0.2088]];

/**
 * SD 1.x and 2.x: one CLIP encoder's last_hidden_state, or with clip skip n the converter's clip_skip_n
 * (A1111 sd_hijack_clip.py FrozenCLIPEmbedderWithCustomWords.encode_with_transformers: hidden_states[−n]
 * through the final layer norm). SD 2.x's exported last_hidden_state is already the penultimate OpenCLIP
 * layer after ln_final, what A1111's FrozenOpenCLIPEmbedder feeds (layer "penultimate").
 */
async function singleEncoderConditioning(_encoders: readonly TextEncoderView[], run: RunTextEncoder, request: ConditioningRequest): Promise<Conditioning> {
  const output = request.clipSkip > 1 ? clipSkipOutput(request.clipSkip) : OUTPUTS.text_encoder.hidden;
  const [context] = await run(0, [request.negativePrompt, request.prompt], [output]);
  return { context: context!, extra: {} };
}

/**
 * SDXL (Stability's generative-models sgm/modules/encoders/modules.py, as A1111 sd_models_xl.py runs it):
 * the context is CLIP-L's and OpenCLIP bigG's penultimate hidden states side by side, the pooled vector is
 * bigG's text_embeds, and time_ids are (height, width, crop top 0, crop left 0, height, width) of the
 * target, which A1111's img2img uses for both the original and the target size. An empty negative prompt
 * is not encoded: its context and pooled vector are zeros (sd_models_xl.get_learned_conditioning's
 * force_zero_embeddings), while its time_ids stay.
 */
async function sdxlConditioning(encoders: readonly TextEncoderView[], run: RunTextEncoder, request: ConditioningRequest): Promise<Conditioning> {
  const zeroUncond = request.negativePrompt === '';
  const texts = zeroUncond ? [request.prompt] : [request.negativePrompt, request.prompt];
  const [clipL, bigG] = encoders as [TextEncoderView, TextEncoderView];
  const [first] = await run(0, texts, [hiddenStatesOutput(clipL.layers - 1)]);
  const [second, pooled] = await run(1, texts, [hiddenStatesOutput(bigG.layers - 1), OUTPUTS.text_encoder.projected]);
  const context = concatLastAxis(first!, second!);
  const size = [request.height, request.width, 0, 0, request.height, request.width];
  return {
    context: zeroUncond ? withZeroRow(context) : context,
    extra: {
      [INPUTS.unet.pooled]: zeroUncond ? withZeroRow(pooled!) : pooled!,
      [INPUTS.unet.timeIds]: { data: Float32Array.from([...size, ...size]), dims: [2, size.length] },
    },
  };
}

/** The SD 1.x/2.x VAE's scaling factor (latent = 0.18215 · VAE mean); SDXL's VAE has its own. */
const SD_VAE_SCALE = 0.18215;

export const FAMILIES: Readonly<Record<FamilyName, ModelFamily>> = {
  sd1: {
    name: 'sd1', label: 'SD 1.x', sigmaTable: 'sd1', vaeScale: SD_VAE_SCALE, clipSkip: true,
    textEncoders: [{ component: 'text_encoder', tokenizer: 'tokenizer', context: 'last_hidden_state', pooled: false }],
    unetInputs: [],
    condition: singleEncoderConditioning,
    previewFactors: SD_PREVIEW_FACTORS,
  },
  // Same betas as SD 1.x, and A1111 (sd_schedulers.py) uses the SD 1.5 Align Your Steps list for it too.
  sd2: {
    name: 'sd2', label: 'SD 2.x', sigmaTable: 'sd1', vaeScale: SD_VAE_SCALE, clipSkip: false,
    textEncoders: [{ component: 'text_encoder', tokenizer: 'tokenizer', context: 'last_hidden_state', pooled: false }],
    unetInputs: [],
    condition: singleEncoderConditioning,
    previewFactors: SD_PREVIEW_FACTORS,
  },
  sdxl: {
    name: 'sdxl', label: 'SDXL', sigmaTable: 'sdxl', vaeScale: 0.13025, clipSkip: false,
    fp16VaeRemedy: 'an fp32 VAE export or madebyollin\'s sdxl-vae-fp16-fix',
    textEncoders: [
      { component: 'text_encoder', tokenizer: 'tokenizer', context: 'hidden_states', pooled: false },
      { component: 'text_encoder_2', tokenizer: 'tokenizer_2', context: 'hidden_states', pooled: true },
    ],
    unetInputs: [INPUTS.unet.pooled, INPUTS.unet.timeIds],
    condition: sdxlConditioning,
    previewFactors: SDXL_PREVIEW_FACTORS,
  },
};

export function familyNamed(name: string): ModelFamily {
  if (!(FAMILY_NAMES as readonly string[]).includes(name)) throw unknownName('model family', name, FAMILY_NAMES, 'INVALID_ARGUMENT');
  return FAMILIES[name as FamilyName];
}

/**
 * Why a model cannot run `clipSkip`, or undefined when it can. A1111 applies CLIP_stop_at_last_layers to
 * SD 1.x only: SD 2.x's OpenCLIP embedder always takes its fixed penultimate layer and SDXL ignores it
 * (unless A1111's sdxl_clip_l_skip option), so a clip skip there would silently change nothing.
 */
export function clipSkipRefusal(model: string, family: ModelFamily, maxClipSkip: number, clipSkip: number): UserError | undefined {
  if (clipSkip <= 1) return undefined;
  if (!family.clipSkip) {
    return new UserError(`clip_skip ${clipSkip}: model '${model}' is ${family.label}, which takes no clip skip (A1111 applies CLIP_stop_at_last_layers to SD 1.x only; allowed: 1)`, 'UNSUPPORTED_BY_BACKEND');
  }
  if (clipSkip > maxClipSkip) {
    const offered = maxClipSkip === 1 ? 'its text encoder has only last_hidden_state' : `its text encoder has outputs up to ${clipSkipOutput(maxClipSkip)}`;
    return new UserError(`clip_skip ${clipSkip}: model '${model}' offers clip skip 1 to ${maxClipSkip} (${offered}; allowed: 1–${maxClipSkip})`, 'UNSUPPORTED_BY_BACKEND');
  }
  return undefined;
}

/** [b, s, d₁] ‖ [b, s, d₂] → [b, s, d₁ + d₂]. */
function concatLastAxis(a: Embedding, b: Embedding): Embedding {
  const [batch, sequence, widthA] = a.dims as [number, number, number];
  const widthB = b.dims[2]!;
  if (b.dims[0] !== batch || b.dims[1] !== sequence) throw new Error(`text encoders disagree: [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  const data = new Float32Array(batch * sequence * (widthA + widthB));
  for (let row = 0; row < batch * sequence; row++) {
    data.set(a.data.subarray(row * widthA, (row + 1) * widthA), row * (widthA + widthB));
    data.set(b.data.subarray(row * widthB, (row + 1) * widthB), row * (widthA + widthB) + widthA);
  }
  return { data, dims: [batch, sequence, widthA + widthB] };
}

/** A batch-1 embedding as batch 2 with a zero row first: the unconditional half of an empty negative prompt. */
function withZeroRow(embedding: Embedding): Embedding {
  const data = new Float32Array(2 * embedding.data.length);
  data.set(embedding.data, embedding.data.length);
  return { data, dims: [2, ...embedding.dims.slice(1)] };
}
