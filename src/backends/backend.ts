import type { ImageInfo } from '../images/sniff.js';
import type { FamilyName, Prediction } from '../models/families.js';
import type { SamplerInfo } from '../samplers/catalog.js';
import type { A1111Mode } from './a1111/payload.js';

/** The generation settings every backend honours, with defaults filled in and names resolved. */
export interface GenerationSettings {
  /** Output size in pixels, multiples of 8. */
  readonly width: number;
  readonly height: number;
  readonly method: string;
  /** Our scheduler name, `automatic` included (the backend resolves it the way its engine does). */
  readonly scheduler: string;
  readonly steps: number;
  readonly denoise: number;
  readonly fixSteps: boolean;
  readonly cfgScale: number;
  /** Never −1: the service draws the seed so it can report it. */
  readonly seed: number;
  readonly prompt: string;
  readonly negativePrompt: string;
  /** A1111's CLIP_stop_at_last_layers: 1 uses the text encoder's last layer, n stops n − 1 layers earlier. */
  readonly clipSkip: number;
}

/** Live previews while sampling: none, the latent mapped linearly to RGB, or the VAE's decoding. */
export const PREVIEW_MODES = ['off', 'cheap', 'full'] as const;
export type PreviewMode = (typeof PREVIEW_MODES)[number];

/** What a job asked for in previews; they change nothing in the result. */
export interface PreviewRequest {
  readonly mode: PreviewMode;
  /** One preview every this many steps. */
  readonly every: number;
}

/** The latest image of a running job. */
export interface PreviewImage {
  readonly step: number;
  readonly steps: number;
  /** image/jpeg from the onnx backend; whatever A1111 sends (its live_previews_image_format) from A1111. */
  readonly mime: string;
  readonly bytes: Uint8Array;
}

/** An upscale as queued: the settings plus the input image, the sampler and, for onnx, the model. */
export interface UpscaleWork extends GenerationSettings {
  readonly preview: PreviewRequest;
  readonly image: Uint8Array;
  readonly input: ImageInfo;
  readonly sampler: SamplerInfo;
  /** ONNX backend: which model in MODELS_DIR (the first when absent). A1111 uses its loaded checkpoint. */
  readonly model?: string;
}

/** The work without its image: all that admission rules and queues need to judge it. */
export type WorkSpec = Omit<UpscaleWork, 'image'>;

export interface UpscaleOutcome {
  /** PNG bytes as the backend returned them; the service adds the infotext. */
  readonly png: Uint8Array;
  readonly seed: number;
  /** Which instance or device ran it, for the logs and the JSON response. */
  readonly ranOn: string;
  /** The model that ran it, when the backend knows (onnx: the model folder's name; A1111: its sd_model_name). */
  readonly model?: string;
  /** The model's short hash, when the backend has one (A1111's sd_model_hash, its infotext's "Model hash"). */
  readonly modelHash?: string;
  /** What the backend changed on the way (A1111 sent another format), added to the parameters' notes. */
  readonly notes?: readonly string[];
  /**
   * The sampling steps that actually ran, as the backend reported them (A1111's /progress sampling_steps):
   * A1111's own beta and ddim_uniform schedules can give other than n + 1 sigmas, so fix steps may run
   * 19 for 20 or 47 for 40 there.
   */
  readonly stepsRun?: number;
}

export interface ProgressReport {
  readonly progress: number;
  readonly step: number;
  readonly steps: number;
  /** Seconds the job still needs, by the backend's own estimate (JSON: eta_seconds). */
  readonly etaSeconds?: number;
  /** A new preview, when the job asked for them and one is ready. */
  readonly preview?: PreviewImage;
}

/** A claim on one unit of a backend's capacity (one A1111 instance), held while one job runs. */
export interface Lease {
  /** The unit's name; a job that failed on it avoids it when it is retried. */
  readonly ranOn: string;
  run(work: UpscaleWork, onProgress: (report: ProgressReport) => void, signal: AbortSignal, onStage?: (stage: string, seconds: number) => void): Promise<UpscaleOutcome>;
}

export interface ModelView {
  readonly name: string;
  readonly provider: string;
  readonly precision: string;
  readonly timestep_type: string;
  readonly vae_encoder_output: string;
  readonly hidden_size: number | null;
  /** models/families.ts's family, with its label for people. */
  readonly family: FamilyName;
  readonly family_label: string;
  readonly prediction: Prediction;
  readonly vae_scale: number;
  /** The sigma table its schedules use (GET /sigmas?table=). */
  readonly sigma_table: string;
  /** The largest clip_skip it takes. */
  readonly max_clip_skip: number;
}

/** One unit of a backend (an A1111 instance, an ONNX model) as data: what /readyz shows and admission reads. */
export interface UnitSnapshot {
  readonly target: string;
  readonly healthy: boolean;
  /** No free slot right now. */
  readonly busy: boolean;
  readonly mode?: string;
  readonly error?: string;
  /** Usable, but something its operator should know (A1111: settings our overrides would leave changed). */
  readonly warning?: string;
  /** Redis mode: the worker process this unit belongs to. */
  readonly worker?: string;
  /** A1111 instances: how the instance can upscale, from its last probe. */
  readonly a1111?: A1111Mode;
}

/**
 * What a backend can do now, as plain JSON: the same shape whether it describes backends in this process
 * or the merged heartbeats of every live worker (Redis mode), so one set of rules judges both.
 */
export interface BackendSnapshot {
  readonly backend: string;
  readonly units: readonly UnitSnapshot[];
  readonly models: readonly ModelView[];
  /** Model folders that failed to load, and why. */
  /**
   * Models that cannot run: failed (why), or `pending` while a checkpoint is still being converted. In a
   * fleet, `name` says which worker and `model` keeps the model's own name.
   */
  readonly modelErrors: readonly { readonly name: string; readonly error: string; readonly pending?: boolean; readonly model?: string }[];
}

/** A backend that runs jobs in this process. What it can do is its snapshot; running is acquire + run. */
export interface Backend {
  readonly name: string;
  /** Jobs it can run at once when every unit is healthy. */
  readonly slots: number;
  /** Jobs it can run at once with the units usable now (a worker takes this many from Redis). */
  capacity(): number;
  snapshot(): BackendSnapshot;
  /** A free healthy unit able to run the work and not among `avoid`, or undefined when none is free now. */
  acquire(work: UpscaleWork, avoid?: ReadonlySet<string>): Lease | undefined;
  /** Called whenever a unit frees up, recovers or goes down, so queues can dispatch or give up. */
  onChange(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
