import type { ProgressReport, UpscaleWork } from '../backends/backend.js';
import { isServiceError, statusOf, type ErrorCode } from '../errors.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export type EndState = 'succeeded' | 'failed' | 'cancelled';

export const isFinished = (state: JobState): state is EndState => FINISHED_STATES.includes(state);

export interface JobResult {
  readonly png: Uint8Array;
  readonly seed: number;
  readonly ranOn: string;
  /** The generation parameters, as written into the PNG's infotext. */
  readonly parameters: Record<string, unknown>;
}

export interface JobError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

export function jobError(code: ErrorCode, message: string): JobError {
  return { status: statusOf(code), code, message };
}

/**
 * Why a job failed, from what its attempt threw: a service error keeps its code and message; anything else
 * is a bug, whose message (and stack) belongs in the service log, not in the answer.
 */
export function jobErrorFrom(error: unknown): JobError {
  if (isServiceError(error)) return jobError(error.code, error.message);
  return jobError('INTERNAL_ERROR', 'internal error while running the job; see the service log');
}

/** What a job is, apart from its input and result bytes: small, the same in memory and in Redis. */
export interface JobRecord {
  readonly id: string;
  readonly backend: string;
  /** What the caller asked for and what was filled in (size rounding, seed), echoed in responses. */
  readonly parameters: Record<string, unknown>;
  readonly createdAt: Date;
  readonly state: JobState;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly progress: number;
  readonly step: number;
  readonly steps: number;
  readonly etaSeconds?: number;
  /** The step of the job's latest preview (the image itself is kept by the transport), once it has one. */
  readonly previewStep?: number;
  readonly ranOn?: string;
  readonly error?: JobError;
  /** Who may see the job: a digest of the API key that created it; unset when created without API keys (anyone may). */
  readonly owner?: string;
}

/** A job as handed to a transport: its record and the work to run. */
export interface NewJob {
  readonly record: JobRecord;
  readonly work: UpscaleWork;
}

export type JobEvent =
  | { readonly type: 'queued'; readonly position: number | null }
  | { readonly type: 'running'; readonly ranOn: string | null }
  | ({ readonly type: 'progress' } & Omit<ProgressReport, 'preview'>)
  /** A new preview is ready (SSE sends it with the image). */
  | { readonly type: 'preview'; readonly step: number; readonly steps: number }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly error: JobError }
  | { readonly type: 'cancelled' }
  /** This API node is shutting down; the job itself goes on where it runs (Redis mode). */
  | { readonly type: 'closing'; readonly message: string };

export function newRecord(id: string, backend: string, work: UpscaleWork, parameters: Record<string, unknown>, owner?: string, createdAt = new Date()): JobRecord {
  return { id, backend, parameters, createdAt, state: 'queued', progress: 0, step: 0, steps: work.steps, ...(owner !== undefined ? { owner } : {}) };
}

/** An owned job is seen by its owner only; a job created without API keys by anyone with its id. */
export function isVisibleTo(job: JobRecord, caller: string | undefined): boolean {
  return job.owner === undefined || job.owner === caller;
}

/** The public view of a job (GET /jobs/:id). */
export function jobView(job: JobRecord, queuePosition: number | undefined): Record<string, unknown> {
  return {
    id: job.id,
    state: job.state,
    backend: job.backend,
    progress: job.progress,
    step: job.step,
    steps: job.steps,
    // The last estimate of a job that is no longer running (finished, or back in the queue) is stale.
    eta_seconds: job.state === 'running' ? job.etaSeconds ?? null : null,
    queue_position: queuePosition ?? null,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
    ran_on: job.ranOn ?? null,
    error: job.error ?? null,
    parameters: job.parameters,
  };
}

/**
 * An event as SSE sends it, snake_case like all public JSON: progress and closing carry their own fields
 * (`type` first, as before), every other event the job as GET /jobs/:id shows it.
 */
export function eventView(event: JobEvent, job: JobRecord): Record<string, unknown> {
  if (event.type === 'progress') return { type: 'progress', progress: event.progress, step: event.step, steps: event.steps, eta_seconds: event.etaSeconds ?? null };
  if (event.type === 'closing') return { type: 'closing', message: event.message };
  if (event.type === 'preview') return { type: 'preview', step: event.step, steps: event.steps };
  return jobView(job, undefined);
}

/**
 * A succeeded job's parameters: those it ran with, as its result has them (the seed A1111 used, the unit,
 * the model that ran, which a request naming none learns only here), less the infotext that is in the PNG.
 */
export function succeededParameters(resultParameters: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(resultParameters).filter(([key]) => key !== 'infotext'));
}

/** The event that announces a job's end. */
export function endEvent(job: JobRecord): JobEvent {
  return job.state === 'succeeded' ? { type: 'done' } : job.state === 'failed' ? { type: 'failed', error: job.error! } : { type: 'cancelled' };
}

export function isEndEvent(event: JobEvent): boolean {
  return event.type === 'done' || event.type === 'failed' || event.type === 'cancelled';
}

/**
 * The events that lead from one reading of a job to the next. Followers see jobs through successive
 * readings (Redis may drop a notice; several changes may fall between two readings), so events are
 * derived from what changed rather than relayed.
 */
export function eventsBetween(before: JobRecord, after: JobRecord): JobEvent[] {
  const events: JobEvent[] = [];
  if (after.state !== before.state || after.ranOn !== before.ranOn) {
    if (after.state === 'queued') events.push({ type: 'queued', position: null });
    if (after.state === 'running') events.push({ type: 'running', ranOn: after.ranOn ?? null });
  }
  const moved = after.step !== before.step || after.progress !== before.progress || after.steps !== before.steps;
  if (after.state === 'running' && moved) {
    events.push({ type: 'progress', progress: after.progress, step: after.step, steps: after.steps, ...(after.etaSeconds !== undefined ? { etaSeconds: after.etaSeconds } : {}) });
  }
  if (after.state === 'running' && after.previewStep !== undefined && after.previewStep !== before.previewStep) {
    events.push({ type: 'preview', step: after.previewStep, steps: after.steps });
  }
  if (isFinished(after.state) && after.state !== before.state) events.push(endEvent(after));
  return events;
}
