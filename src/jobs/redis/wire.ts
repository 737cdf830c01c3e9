import type { UpscaleOutcome, UpscaleWork } from '../../backends/backend.js';
import { samplerNamed } from '../../samplers/catalog.js';
import type { JobError } from '../job.js';

// What travels through Redis between API nodes and workers: plain JSON.

export const CANCEL_CHANNEL = 'latent-upscale:cancel';
export const queueName = (backend: string): string => `latent-upscale-${backend}`;
export const cancelledKey = (id: string): string => `latent-upscale:cancelled:${id}`;

export interface WireWork extends Omit<UpscaleWork, 'image' | 'sampler'> {
  readonly image: string;
  readonly sampler: string;
}

export interface JobData {
  readonly work: WireWork;
  readonly parameters: Record<string, unknown>;
}

export interface WireOutcome {
  readonly png: string;
  readonly seed: number;
  readonly ranOn: string;
}

export function toWire(work: UpscaleWork): WireWork {
  return { ...work, image: Buffer.from(work.image).toString('base64'), sampler: work.sampler.name };
}

export function fromWire(work: WireWork): UpscaleWork {
  return { ...work, image: Buffer.from(work.image, 'base64'), sampler: samplerNamed(work.sampler) };
}

export function outcomeFromWire(outcome: WireOutcome): UpscaleOutcome {
  return { png: Buffer.from(outcome.png, 'base64'), seed: outcome.seed, ranOn: outcome.ranOn };
}

/** A failed job's reason carries the HTTP status, or says the job was cancelled. */
export function encodeFailure(failure: JobError | 'cancelled'): string {
  return JSON.stringify(failure === 'cancelled' ? { cancelled: true } : failure);
}

export function decodeFailure(reason: string | undefined): JobError | 'cancelled' {
  try {
    const parsed = JSON.parse(reason ?? '') as Partial<JobError> & { cancelled?: boolean };
    if (parsed.cancelled) return 'cancelled';
    if (typeof parsed.status === 'number' && typeof parsed.message === 'string') return { status: parsed.status, message: parsed.message };
  } catch {
    // a worker crash or a stall leaves BullMQ's own text
  }
  return { status: 503, message: reason || 'the job failed on a worker' };
}
