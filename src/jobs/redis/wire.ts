import type { PreviewImage, UpscaleWork } from '../../backends/backend.js';
import { samplerNamed } from '../../samplers/catalog.js';
import { isErrorCode } from '../../errors.js';
import { jobError, type JobError, type JobRecord } from '../job.js';

// What travels through Redis between API nodes and workers: plain JSON, and the image bytes under keys
// of their own so that reading a job's state never pulls its megabytes.

const PREFIX = 'latent-upscale';
export const CANCEL_CHANNEL = `${PREFIX}:cancel`;
export const WORKERS_KEY = `${PREFIX}:workers`;
export const queueName = (backend: string): string => `${PREFIX}-${backend}`;
export const inputKey = (id: string): string => `${PREFIX}:input:${id}`;
export const resultKey = (id: string): string => `${PREFIX}:result:${id}`;
/** Jobs that ended without a worker (cancelled or failed while waiting) are kept here as records. */
export const endedKey = (id: string): string => `${PREFIX}:ended:${id}`;
export const workerKey = (id: string): string => `${PREFIX}:worker:${id}`;
/** A running job's latest preview (a hash: step, steps, mime, bytes), replaced by each new one. */
export const previewKey = (id: string): string => `${PREFIX}:preview:${id}`;

/** Previews are for watching a job now: each one outlives its successor by little, and none is kept long. */
export const PREVIEW_TTL_MS = 60_000;

/** How long an input waits for a worker at most, past which it is dropped with its job. */
export const INPUT_TTL_MS = 24 * 3600_000;

export type WireWork = Omit<UpscaleWork, 'image' | 'sampler'> & { readonly sampler: string };

export interface WireRecord {
  readonly id: string;
  readonly backend: string;
  readonly parameters: Record<string, unknown>;
  readonly createdAt: number;
  /** JobRecord.owner: a digest of the creating API key, so that every API node answers only its owner. */
  readonly owner?: string;
}

/** BullMQ job data: no image. `avoid` and `attempts` follow the job across the workers that try it. */
export interface JobData {
  readonly record: WireRecord;
  readonly work: WireWork;
  readonly avoid: readonly string[];
  readonly attempts: number;
}

/** BullMQ job progress: the step, and which unit runs the job. */
export interface WireProgress {
  readonly progress: number;
  readonly step: number;
  readonly steps: number;
  readonly etaSeconds?: number;
  readonly ranOn?: string;
  /** The step of the preview under previewKey, once there is one. */
  readonly previewStep?: number;
}

/** BullMQ return value: what the result is, the PNG itself being under resultKey. */
export interface WireOutcome {
  readonly seed: number;
  readonly ranOn: string;
  readonly parameters: Record<string, unknown>;
}

export function workToWire(work: UpscaleWork): WireWork {
  const wire: Record<string, unknown> = { ...work, sampler: work.sampler.name };
  delete wire['image'];
  return wire as WireWork;
}

export function workFromWire(work: WireWork, image: Uint8Array): UpscaleWork {
  // Jobs queued by an API node older than previews carry none.
  const older = work as Omit<WireWork, 'preview'> & Partial<Pick<WireWork, 'preview'>>;
  return { ...work, preview: older.preview ?? { mode: 'off', every: 1 }, image, sampler: samplerNamed(work.sampler) };
}

export function previewToWire(preview: PreviewImage): Record<string, string | Buffer> {
  return { step: String(preview.step), steps: String(preview.steps), mime: preview.mime, bytes: Buffer.from(preview.bytes.buffer, preview.bytes.byteOffset, preview.bytes.byteLength) };
}

export function previewFromWire(hash: Record<string, Buffer>): PreviewImage | undefined {
  const { step, steps, mime, bytes } = hash;
  if (step === undefined || steps === undefined || mime === undefined || bytes === undefined) return undefined;
  return { step: Number(step.toString()), steps: Number(steps.toString()), mime: mime.toString(), bytes };
}

export function recordToWire(record: JobRecord): WireRecord {
  return {
    id: record.id, backend: record.backend, parameters: record.parameters, createdAt: record.createdAt.getTime(),
    ...(record.owner !== undefined ? { owner: record.owner } : {}),
  };
}

/** The record a wire record stands for, as it was queued (`steps` from its work). */
export function recordFromWire(record: WireRecord, steps: number): JobRecord {
  return {
    id: record.id, backend: record.backend, parameters: record.parameters, createdAt: new Date(record.createdAt),
    ...(record.owner !== undefined ? { owner: record.owner } : {}),
    state: 'queued', progress: 0, step: 0, steps,
  };
}

/** A failed job's reason carries the HTTP status, or says the job was cancelled. */
export function encodeFailure(failure: JobError | 'cancelled'): string {
  return JSON.stringify(failure === 'cancelled' ? { cancelled: true } : failure);
}

export function decodeFailure(reason: string | undefined): JobError | 'cancelled' {
  try {
    const parsed = JSON.parse(reason ?? '') as Partial<JobError> & { cancelled?: boolean };
    if (parsed.cancelled) return 'cancelled';
    if (isErrorCode(parsed.code) && typeof parsed.message === 'string') return jobError(parsed.code, parsed.message);
  } catch {
    // a worker crash or a stall leaves BullMQ's own text
  }
  return jobError('BACKEND_UNAVAILABLE', reason ? `the job failed on a worker: ${reason}` : 'the job failed on a worker');
}

/** An ended-while-waiting record, as stored under endedKey (its dates as ISO strings). */
export function encodeEnded(record: JobRecord): string {
  return JSON.stringify(record);
}

export function decodeEnded(text: string): JobRecord {
  const parsed = JSON.parse(text) as Omit<JobRecord, 'createdAt' | 'startedAt' | 'finishedAt'> & { createdAt: string; startedAt?: string; finishedAt?: string };
  const { startedAt, finishedAt, ...rest } = parsed;
  return {
    ...rest, createdAt: new Date(parsed.createdAt),
    ...(startedAt !== undefined ? { startedAt: new Date(startedAt) } : {}),
    ...(finishedAt !== undefined ? { finishedAt: new Date(finishedAt) } : {}),
  };
}
