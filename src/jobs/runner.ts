import type { BackendSnapshot, Lease, ProgressReport, UpscaleWork, WorkSpec } from '../backends/backend.js';
import { rulesFor } from '../backends/rules.js';
import { BackendError, isServiceError, UserError } from '../errors.js';
import { finishUpscale } from '../upscale/prepare.js';
import { jobErrorFrom, type JobError, type JobRecord, type JobResult } from './job.js';

/** Units a job may try before it fails with the last unit's error. */
export const MAX_ATTEMPTS = 3;

/** The abort reason of a job its caller cancelled. */
export class CancelledError extends UserError {
  constructor() {
    super('cancelled', 'JOB_CANCELLED');
  }
}

/** The abort reason of jobs a stopping process gives up (not their fault, not a cancel). */
export class ShutdownError extends BackendError {
  constructor(what: string) {
    super(`${what} is shutting down; submit the job again`, 'SHUTTING_DOWN');
  }
}

/** Told when jobs end and how long each stage took (metrics), wherever the jobs run. */
export interface JobObserver {
  ended(job: JobRecord): void;
  stage(backend: string, stage: string, seconds: number): void;
  /** An attempt threw something that is no service error: a bug, for the log. */
  bug(job: JobRecord, error: unknown): void;
}

export type AttemptOutcome =
  | { readonly kind: 'succeeded'; readonly result: JobResult }
  | { readonly kind: 'cancelled' }
  /** `unitFault`: the unit failed (unreachable, stalled, broken answer), so another unit may succeed. */
  | { readonly kind: 'failed'; readonly error: JobError; readonly unitFault: boolean };

/** Runs a job once on a leased unit and adds the infotext; never throws. */
export async function runAttempt(
  lease: Lease,
  job: { readonly record: JobRecord; readonly work: UpscaleWork },
  signal: AbortSignal,
  onProgress: (report: ProgressReport) => void,
  observer?: JobObserver,
): Promise<AttemptOutcome> {
  try {
    const outcome = await lease.run(job.work, onProgress, signal, (stage, seconds) => observer?.stage(job.record.backend, stage, seconds));
    signal.throwIfAborted();
    return { kind: 'succeeded', result: finishUpscale(job.record, job.work, outcome) };
  } catch (thrown) {
    const error = signal.aborted ? signal.reason : thrown;
    if (error instanceof CancelledError) return { kind: 'cancelled' };
    if (!isServiceError(error)) observer?.bug(job.record, error);
    return { kind: 'failed', error: jobErrorFrom(error), unitFault: error instanceof BackendError && !(error instanceof ShutdownError) };
  }
}

/** Why no unit outside `avoid` can run the work now, or undefined when one can (busy or not). */
export function refusalAvoiding(snapshot: BackendSnapshot, work: WorkSpec, avoid: ReadonlySet<string> | readonly string[]): Error | undefined {
  const avoided = new Set(avoid);
  return rulesFor(snapshot.backend).refusal({ ...snapshot, units: snapshot.units.filter((unit) => !avoided.has(unit.target)) }, work);
}

/** Whether a failed attempt should go to another unit: a unit fault, attempts left, and another unit able to run it. */
export function retryElsewhere(outcome: AttemptOutcome, attempts: number, snapshot: BackendSnapshot, work: WorkSpec, avoid: ReadonlySet<string>): boolean {
  return outcome.kind === 'failed' && outcome.unitFault && attempts < MAX_ATTEMPTS && refusalAvoiding(snapshot, work, avoid) === undefined;
}
