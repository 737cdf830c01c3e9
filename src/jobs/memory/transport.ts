import { EventEmitter } from 'node:events';
import type { Backend, BackendSnapshot, Lease, PreviewImage, UpscaleWork } from '../../backends/backend.js';
import { isFinished, jobErrorFrom, succeededParameters, type EndState, type JobError, type JobRecord, type JobResult, type NewJob } from '../job.js';
import { CancelledError, ShutdownError, retryElsewhere, runAttempt, type JobObserver } from '../runner.js';
import { QueueFullError, type JobTransport, type QueueLoad, type WaitingJob } from '../transport.js';

export interface MemoryTransportOptions {
  readonly resultTtlMs: number;
  /** Results kept past this many bytes expire oldest first (the newest is always kept). */
  readonly resultStoreBytes: number;
  readonly observer?: JobObserver;
}

interface Entry {
  record: JobRecord;
  /** What to run, the input image with it; released when the job ends, as only a waiting or running job needs it. */
  work?: UpscaleWork;
  result?: JobResult;
  /** The latest preview only; dropped when the job ends. */
  preview?: PreviewImage;
  readonly abort: AbortController;
  /** Units this job failed on; a retry goes elsewhere. */
  readonly avoid: Set<string>;
  attempts: number;
}

/** A job in the line or running: it has its work. */
type LiveEntry = Entry & { work: UpscaleWork };

/**
 * Jobs in this process: a FIFO line per process, dispatched to this process's backends whenever a unit
 * is free. A job whose unit failed goes back to the head of the line for another unit; finished jobs
 * stay readable for `resultTtlMs`.
 */
export class MemoryTransport implements JobTransport {
  private readonly jobs = new Map<string, Entry>();
  private readonly line: LiveEntry[] = [];
  private readonly events = new EventEmitter();
  private readonly expiry = new Map<string, NodeJS.Timeout>();
  private readonly runs = new Set<Promise<void>>();
  /** Jobs whose result is still held, oldest first (a Map keeps insertion order), with its bytes. */
  private readonly heldResults = new Map<string, number>();
  private heldBytes = 0;
  private stopping = false;

  constructor(private readonly backends: ReadonlyMap<string, Backend>, private readonly options: MemoryTransportOptions) {
    this.events.setMaxListeners(0);
    for (const backend of backends.values()) backend.onChange(() => this.dispatch());
  }

  async add(job: NewJob, maxQueued: number): Promise<void> {
    if (this.stopping) throw new ShutdownError('the service');
    if (this.line.length >= maxQueued) throw new QueueFullError(maxQueued);
    const entry: LiveEntry = { record: job.record, work: job.work, abort: new AbortController(), avoid: new Set(), attempts: 0 };
    this.jobs.set(job.record.id, entry);
    this.line.push(entry);
    this.dispatch();
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return this.jobs.get(id)?.record;
  }

  async result(id: string): Promise<JobResult | undefined> {
    return this.jobs.get(id)?.result;
  }

  async preview(id: string): Promise<PreviewImage | undefined> {
    return this.jobs.get(id)?.preview;
  }

  async position(job: JobRecord): Promise<number | undefined> {
    const index = this.line.findIndex((entry) => entry.record.id === job.id);
    return index < 0 ? undefined : index + 1;
  }

  async cancel(job: JobRecord): Promise<void> {
    const entry = this.jobs.get(job.id);
    if (entry === undefined) return;
    if (this.leaveLine(entry)) this.end(entry, 'cancelled');
    else if (entry.record.state === 'running') entry.abort.abort(new CancelledError());
  }

  watch(id: string, listener: () => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  async load(): Promise<QueueLoad> {
    let running = 0;
    for (const entry of this.jobs.values()) if (entry.record.state === 'running') running++;
    return { waiting: this.line.length, running };
  }

  async snapshots(): Promise<BackendSnapshot[]> {
    return [...this.backends.values()].map((backend) => backend.snapshot());
  }

  async waiting(): Promise<WaitingJob[]> {
    return this.line.map((entry) => ({ id: entry.record.id, backend: entry.record.backend, work: entry.work, avoid: [...entry.avoid] }));
  }

  async failWaiting(id: string, error: JobError): Promise<boolean> {
    const entry = this.jobs.get(id);
    if (entry === undefined || !this.leaveLine(entry)) return false;
    this.end(entry, 'failed', error);
    return true;
  }

  /** Waiting jobs fail at once; running ones are interrupted (A1111 too) and fail; resolves when all have ended. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const error = new ShutdownError('the service');
    for (const entry of [...this.line]) {
      this.leaveLine(entry);
      this.end(entry, 'failed', jobErrorFrom(error));
    }
    for (const entry of this.jobs.values()) if (entry.record.state === 'running') entry.abort.abort(error);
    await Promise.allSettled([...this.runs]);
  }

  async close(): Promise<void> {
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
  }

  private dispatch(): void {
    if (this.stopping) return;
    for (let i = 0; i < this.line.length;) {
      const entry = this.line[i]!;
      const lease = this.backends.get(entry.record.backend)!.acquire(entry.work, entry.avoid);
      if (lease === undefined) {
        i++;
        continue;
      }
      this.line.splice(i, 1);
      const run = this.run(entry, lease).finally(() => this.runs.delete(run));
      this.runs.add(run);
    }
  }

  private async run(entry: LiveEntry, lease: Lease): Promise<void> {
    entry.attempts++;
    this.update(entry, { state: 'running', startedAt: entry.record.startedAt ?? new Date(), ranOn: lease.ranOn });
    const outcome = await runAttempt(lease, entry, entry.abort.signal, (report) => {
      if (entry.record.state !== 'running') return;
      if (report.preview !== undefined) entry.preview = report.preview;
      this.update(entry, {
        progress: report.progress, step: report.step, steps: report.steps || entry.record.steps, etaSeconds: report.etaSeconds,
        ...(report.preview !== undefined ? { previewStep: report.preview.step } : {}),
      });
    }, this.options.observer);
    if (outcome.kind === 'succeeded') {
      this.holdResult(entry, outcome.result);
      this.update(entry, { progress: 1, step: entry.record.steps, ranOn: outcome.result.ranOn, parameters: succeededParameters(outcome.result.parameters) });
      this.end(entry, 'succeeded');
    } else if (outcome.kind === 'cancelled') {
      this.end(entry, 'cancelled');
    } else {
      entry.avoid.add(lease.ranOn);
      const snapshot = this.backends.get(entry.record.backend)!.snapshot();
      if (!this.stopping && retryElsewhere(outcome, entry.attempts, snapshot, entry.work, entry.avoid)) {
        // The failed attempt's preview is not this job's any more.
        delete entry.preview;
        this.update(entry, { state: 'queued', previewStep: undefined });
        this.line.unshift(entry);
        this.dispatch();
      } else {
        this.end(entry, 'failed', outcome.error);
      }
    }
  }

  /**
   * Keeps a result within RESULT_STORE_MB: older results are dropped first until the new one fits (their
   * jobs stay readable, their result is a 404 RESULT_EXPIRED); the newest is kept whatever its size.
   */
  private holdResult(entry: Entry, result: JobResult): void {
    entry.result = result;
    this.heldResults.set(entry.record.id, result.png.length);
    this.heldBytes += result.png.length;
    for (const id of this.heldResults.keys()) {
      if (this.heldBytes <= this.options.resultStoreBytes || id === entry.record.id) break;
      const held = this.jobs.get(id);
      if (held !== undefined) delete held.result;
      this.releaseResult(id);
    }
  }

  private releaseResult(id: string): void {
    this.heldBytes -= this.heldResults.get(id) ?? 0;
    this.heldResults.delete(id);
  }

  /** Takes a waiting job out of the line; false when it was not waiting. */
  private leaveLine(entry: Entry): boolean {
    const index = this.line.findIndex((waiting) => waiting === entry);
    if (index < 0) return false;
    this.line.splice(index, 1);
    return true;
  }

  private update(entry: Entry, changes: Partial<JobRecord>): void {
    entry.record = { ...entry.record, ...changes };
    this.events.emit(entry.record.id);
  }

  private end(entry: Entry, state: EndState, error?: JobError): void {
    if (isFinished(entry.record.state)) return;
    delete entry.preview;
    delete entry.work;
    this.update(entry, { state, finishedAt: new Date(), ...(error ? { error } : {}) });
    this.options.observer?.ended(entry.record);
    const timer = setTimeout(() => {
      this.jobs.delete(entry.record.id);
      this.expiry.delete(entry.record.id);
      this.releaseResult(entry.record.id);
    }, this.options.resultTtlMs);
    timer.unref();
    this.expiry.set(entry.record.id, timer);
    this.dispatch();
  }
}
