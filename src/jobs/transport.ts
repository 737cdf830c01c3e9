import type { BackendSnapshot, PreviewImage, WorkSpec } from '../backends/backend.js';
import { BackendError } from '../errors.js';
import type { JobError, JobRecord, JobResult, NewJob } from './job.js';

/** A job that waits for a unit, as the stranded-job sweep sees it (no image: rules need none). */
export interface WaitingJob {
  readonly id: string;
  readonly backend: string;
  readonly work: WorkSpec;
  /** Units it already failed on. */
  readonly avoid: readonly string[];
}

export interface QueueLoad {
  readonly waiting: number;
  readonly running: number;
}

/**
 * Where jobs wait, run and are kept: in this process, or in Redis with workers elsewhere. The job
 * service (service.ts) holds the lifecycle the routes see on top of either; a transport only stores,
 * queues, and says what can run.
 */
export interface JobTransport {
  /** Queues the job, refusing it (503) when `maxQueued` jobs already wait; the check holds under concurrency. */
  add(job: NewJob, maxQueued: number): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  result(id: string): Promise<JobResult | undefined>;
  /** The job's latest preview, while it is kept (in Redis a short while, see PREVIEW_TTL_MS). */
  preview(id: string): Promise<PreviewImage | undefined>;
  /** 1-based place among the jobs waiting, or undefined when not waiting. */
  position(job: JobRecord): Promise<number | undefined>;
  /** Removes a waiting job at once, or interrupts a running one wherever it runs. */
  cancel(job: JobRecord): Promise<void>;
  /** Calls `listener` when the job may have changed (a hint: Redis may drop some; followers also poll). */
  watch(id: string, listener: () => void): () => void;
  load(): Promise<QueueLoad>;
  /** What can run jobs now: this process's backends, or every live worker's merged heartbeats. */
  snapshots(): Promise<readonly BackendSnapshot[]>;
  waiting(): Promise<readonly WaitingJob[]>;
  /** Fails a job that is still waiting; false when it had already left the line. */
  failWaiting(id: string, error: JobError): Promise<boolean>;
  /** Stops starting jobs; jobs running in this process end failed (503), jobs held elsewhere go on. */
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

/** MAX_QUEUE jobs already wait. */
export class QueueFullError extends BackendError {
  constructor(maxQueued: number) {
    super(`the queue is full (${maxQueued} jobs waiting, MAX_QUEUE); retry later`, 'QUEUE_FULL');
  }
}
