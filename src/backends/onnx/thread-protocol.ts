import type { PreviewImage } from '../backend.js';
import type { EngineOptions } from '../../engine/session-pool.js';
import type { ErrorCode } from '../../errors.js';
import type { RgbImage } from '../../images/decode.js';
import type { FamilyName } from '../../models/families.js';
import type { StableDiffusionModel } from '../../models/loader.js';
import type { Img2imgRequest } from '../../pipeline/img2img.js';
import type { TileOptions } from '../../pipeline/stages.js';

// The messages between the onnx backend (main thread) and its pipeline thread (pipeline-thread.ts).

/** Why a job fails when the thread is closed under it, or asked for after it began closing. */
export const CLOSED_MESSAGE = 'the service is stopping: the onnx pipeline thread was closed; the job did not finish (submit it again)';

export interface ThreadOptions {
  readonly engine: EngineOptions;
  readonly tiles: TileOptions;
}

/** What the main thread knows of a model the pipeline thread loaded: everything but its sessions. */
export type ModelFacts = Omit<StableDiffusionModel, 'sessions' | 'textEncoders' | 'family'> & { readonly family: FamilyName };

export type ThreadRequest =
  | { readonly kind: 'load'; readonly id: number; readonly name: string; readonly folder: string; readonly warm: boolean }
  | { readonly kind: 'run'; readonly id: number; readonly name: string; readonly folder: string; readonly request: Img2imgRequest }
  | { readonly kind: 'cancel'; readonly id: number }
  /** Cancel every run, release the sessions and exit (PipelineThread.close). */
  | { readonly kind: 'close' };

export interface ThreadError {
  readonly message: string;
  /** Set for service errors (the user's or a backend's), which keep their code across the thread. */
  readonly code?: ErrorCode;
  readonly stack?: string;
}

export type ThreadReply =
  | { readonly kind: 'loaded'; readonly id: number; readonly model: ModelFacts }
  | { readonly kind: 'sampling'; readonly id: number }
  | { readonly kind: 'step'; readonly id: number; readonly step: number; readonly steps: number }
  | { readonly kind: 'stage'; readonly id: number; readonly stage: 'encode' | 'upscale' | 'sampling' | 'decode'; readonly seconds: number }
  | { readonly kind: 'preview'; readonly id: number; readonly preview: PreviewImage }
  | { readonly kind: 'done'; readonly id: number; readonly output: RgbImage }
  | { readonly kind: 'failed'; readonly id: number; readonly error: ThreadError };
