import type { ImageInfo } from '../images/sniff.js';
import type { SamplerInfo } from '../samplers/catalog.js';

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
}

/** An upscale as queued: the settings plus the input image, the sampler and, for onnx, the model. */
export interface UpscaleWork extends GenerationSettings {
  readonly image: Uint8Array;
  readonly input: ImageInfo;
  readonly sampler: SamplerInfo;
  /** ONNX backend: which model in MODELS_DIR (the first when absent). A1111 uses its loaded checkpoint. */
  readonly model?: string;
}

export interface UpscaleOutcome {
  /** PNG bytes as the backend returned them; the service adds the infotext. */
  readonly png: Uint8Array;
  readonly seed: number;
  /** Which instance or device ran it, for the logs and the JSON response. */
  readonly ranOn: string;
}

export interface ProgressReport {
  readonly progress: number;
  readonly step: number;
  readonly steps: number;
  readonly etaSeconds?: number;
}

/** A claim on one unit of a backend's capacity (one A1111 instance), held while one job runs. */
export interface Lease {
  readonly ranOn: string;
  run(work: UpscaleWork, onProgress: (report: ProgressReport) => void, signal: AbortSignal, onStage?: (stage: string, seconds: number) => void): Promise<UpscaleOutcome>;
}

export interface BackendCapabilities {
  readonly methods: readonly string[];
  readonly schedulers: readonly string[];
  readonly samplers: readonly string[];
}

export interface BackendStatus {
  readonly ready: boolean;
  readonly detail: readonly { readonly target: string; readonly healthy: boolean; readonly busy: boolean; readonly mode?: string; readonly error?: string }[];
}

export interface Backend {
  readonly name: string;
  /** What at least one healthy unit supports right now. */
  capabilities(): BackendCapabilities;
  status(): BackendStatus;
  /** Throws a UserError when no unit of this backend can ever run the work (e.g. a method stock A1111 lacks). */
  check(work: UpscaleWork): void;
  /** A free unit able to run the work, or undefined when all such units are busy or down. */
  acquire(work: UpscaleWork): Lease | undefined;
  /** Called whenever a unit frees up or recovers, so the queue can dispatch again. */
  onCapacity(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
