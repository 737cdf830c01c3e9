import type { UpscaleWork } from '../backends/backend.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobResult {
  readonly png: Uint8Array;
  readonly seed: number;
  readonly ranOn: string;
  /** The generation parameters, as written into the PNG's infotext. */
  readonly parameters: Record<string, unknown>;
}

export interface JobError {
  readonly status: number;
  readonly message: string;
}

export type JobEvent =
  | { readonly type: 'queued'; readonly position: number }
  | { readonly type: 'running'; readonly ranOn: string }
  | { readonly type: 'progress'; readonly progress: number; readonly step: number; readonly steps: number; readonly etaSeconds?: number }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly error: JobError }
  | { readonly type: 'cancelled' };

export interface Job {
  readonly id: string;
  readonly backend: string;
  readonly work: UpscaleWork;
  /** What the caller asked for and what was filled in (size rounding, seed), echoed in responses. */
  readonly parameters: Record<string, unknown>;
  readonly createdAt: Date;
  state: JobState;
  startedAt?: Date;
  finishedAt?: Date;
  progress: number;
  step: number;
  steps: number;
  etaSeconds?: number;
  ranOn?: string;
  result?: JobResult;
  error?: JobError;
  /** Aborts the backend call when the job is cancelled while running. */
  readonly abort: AbortController;
}

/** The public view of a job (GET /jobs/:id). */
export function jobView(job: Job, queuePosition: number | undefined): Record<string, unknown> {
  return {
    id: job.id,
    state: job.state,
    backend: job.backend,
    progress: job.progress,
    step: job.step,
    steps: job.steps,
    eta_seconds: job.etaSeconds ?? null,
    queue_position: queuePosition ?? null,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
    ran_on: job.ranOn ?? null,
    error: job.error ?? null,
    parameters: job.parameters,
  };
}

/** The event that announces a job's end. */
export function endEvent(job: Job): JobEvent {
  return job.state === 'succeeded' ? { type: 'done' } : job.state === 'failed' ? { type: 'failed', error: job.error! } : { type: 'cancelled' };
}

export function isEndEvent(event: JobEvent): boolean {
  return event.type === 'done' || event.type === 'failed' || event.type === 'cancelled';
}

/** Resolves when the job has ended, whatever the end, using a store's subscribe. */
export function whenSettled(job: Job, subscribe: (job: Job, listener: (event: JobEvent) => void) => () => void): Promise<Job> {
  if (FINISHED_STATES.includes(job.state)) return Promise.resolve(job);
  return new Promise((resolve) => {
    const unsubscribe = subscribe(job, (event) => {
      if (isEndEvent(event)) {
        unsubscribe();
        resolve(job);
      }
    });
  });
}
