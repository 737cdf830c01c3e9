import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Backend, UpscaleOutcome, UpscaleWork } from '../backends/backend.js';
import { BackendError, UserError } from '../errors.js';
import { endEvent, whenSettled, type Job, type JobEvent, type JobResult } from './job.js';
import type { JobStore } from './store.js';

export interface QueueOptions {
  readonly maxQueued: number;
  readonly resultTtlMs: number;
  /** Turns a backend outcome into the stored result (adds the infotext to the PNG). */
  readonly finish: (job: Job, outcome: UpscaleOutcome) => JobResult;
  /** Told when a job ends and how long each of its stages took (metrics). */
  readonly observer?: JobObserver;
}

export interface JobObserver {
  ended(job: Job): void;
  stage(job: Job, stage: string, seconds: number): void;
}

/** A job that could not reach any instance goes back to the head of the queue this many times. */
const MAX_ATTEMPTS = 3;

/**
 * In-memory FIFO of upscale jobs per backend. A job starts when its backend hands out a lease, reports
 * progress as it runs, and stays readable for `resultTtlMs` after it ends. Nothing is dropped silently:
 * a job whose instance went away is retried on another one, and every end is an event.
 */
export class JobQueue implements JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private readonly attempts = new Map<string, number>();
  private readonly events = new EventEmitter();
  private readonly expiry = new Map<string, NodeJS.Timeout>();

  constructor(private readonly backends: ReadonlyMap<string, Backend>, private readonly options: QueueOptions) {
    this.events.setMaxListeners(0);
    for (const backend of backends.values()) backend.onCapacity(() => this.dispatch());
  }

  async load(): Promise<{ waiting: number; running: number; full: boolean }> {
    let running = 0;
    for (const job of this.jobs.values()) if (job.state === 'running') running++;
    return { waiting: this.waiting.length, running, full: this.full };
  }

  private get full(): boolean {
    return this.waiting.length >= this.options.maxQueued;
  }

  async submit(backendName: string, work: UpscaleWork, parameters: Record<string, unknown>): Promise<Job> {
    const backend = this.backends.get(backendName)!;
    backend.check(work);
    if (this.full) throw new BackendError(`the queue is full (${this.options.maxQueued} jobs waiting, MAX_QUEUE); retry later`, 503);
    const job: Job = {
      id: randomUUID(), backend: backendName, work, parameters, createdAt: new Date(),
      state: 'queued', progress: 0, step: 0, steps: work.steps, abort: new AbortController(),
    };
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.emit(job, { type: 'queued', position: this.waiting.length });
    this.dispatch();
    return job;
  }

  async get(id: string): Promise<Job | undefined> {
    return this.jobs.get(id);
  }

  async position(job: Job): Promise<number | undefined> {
    const index = this.waiting.indexOf(job);
    return index < 0 ? undefined : index + 1;
  }

  /** Cancels a queued job at once, or interrupts a running one; finished jobs are left as they are. */
  async cancel(job: Job): Promise<void> {
    if (job.state === 'queued') {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.end(job, 'cancelled');
    } else if (job.state === 'running') {
      job.abort.abort(new UserError('cancelled', 409));
    }
  }

  subscribe(job: Job, listener: (event: JobEvent) => void): () => void {
    const handler = (event: JobEvent): void => listener(event);
    this.events.on(job.id, handler);
    return () => this.events.off(job.id, handler);
  }

  settled(job: Job): Promise<Job> {
    return whenSettled(job, (j, listener) => this.subscribe(j, listener));
  }

  /** Cancels everything and forgets it (shutdown). */
  async close(): Promise<void> {
    for (const job of [...this.jobs.values()]) await this.cancel(job);
    for (const timer of this.expiry.values()) clearTimeout(timer);
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiting.length;) {
      const job = this.waiting[i]!;
      const lease = this.backends.get(job.backend)!.acquire(job.work);
      if (lease === undefined) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      void this.runJob(job, lease);
    }
  }

  private async runJob(job: Job, lease: NonNullable<ReturnType<Backend['acquire']>>): Promise<void> {
    job.state = 'running';
    job.startedAt ??= new Date();
    job.ranOn = lease.ranOn;
    this.emit(job, { type: 'running', ranOn: lease.ranOn });
    try {
      const outcome = await lease.run(job.work, (report) => {
        if (job.state !== 'running') return;
        Object.assign(job, { progress: report.progress, step: report.step, steps: report.steps || job.steps, etaSeconds: report.etaSeconds });
        this.emit(job, { type: 'progress', ...report });
      }, job.abort.signal, (stage, seconds) => this.options.observer?.stage(job, stage, seconds));
      if (job.abort.signal.aborted) return this.end(job, 'cancelled');
      job.result = this.options.finish(job, outcome);
      job.progress = 1;
      job.step = job.steps;
      this.end(job, 'succeeded');
    } catch (error) {
      if (job.abort.signal.aborted) return this.end(job, 'cancelled');
      if (error instanceof BackendError && error.status === 503 && this.retry(job)) return;
      const status = error instanceof BackendError || error instanceof UserError ? error.status : 500;
      job.error = { status, message: (error as Error).message };
      this.end(job, 'failed');
    }
  }

  /**
   * Puts a job whose instance was unreachable back at the head of the queue, a bounded number of times,
   * and only while another instance is up: otherwise it fails now rather than wait on nothing.
   */
  private retry(job: Job): boolean {
    const attempts = (this.attempts.get(job.id) ?? 1) + 1;
    if (attempts > MAX_ATTEMPTS || !this.backends.get(job.backend)!.status().ready) return false;
    this.attempts.set(job.id, attempts);
    job.state = 'queued';
    this.waiting.unshift(job);
    this.emit(job, { type: 'queued', position: 1 });
    this.dispatch();
    return true;
  }

  private end(job: Job, state: 'succeeded' | 'failed' | 'cancelled'): void {
    job.state = state;
    job.finishedAt = new Date();
    this.attempts.delete(job.id);
    this.options.observer?.ended(job);
    this.emit(job, endEvent(job));
    const timer = setTimeout(() => {
      this.jobs.delete(job.id);
      this.expiry.delete(job.id);
    }, this.options.resultTtlMs);
    timer.unref();
    this.expiry.set(job.id, timer);
    this.dispatch();
  }

  private emit(job: Job, event: JobEvent): void {
    this.events.emit(job.id, event);
  }
}
