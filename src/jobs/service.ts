import { randomUUID } from 'node:crypto';
import type { BackendSnapshot, PreviewImage, UpscaleWork } from '../backends/backend.js';
import { isReady } from '../backends/rules.js';
import { BackendError, UserError } from '../errors.js';
import { eventsBetween, isEndEvent, isFinished, isVisibleTo, jobError, newRecord, type JobEvent, type JobRecord, type JobResult } from './job.js';
import { refusalAvoiding } from './runner.js';
import type { JobTransport, QueueLoad } from './transport.js';

export interface JobServiceOptions {
  readonly maxQueued: number;
  /** How often waiting jobs are checked against what can run them, and followers re-read their job. */
  readonly checkIntervalMs: number;
  /** A waiting job that no unit could run for this long fails with the reason (503). */
  readonly unavailableGraceMs: number;
}

export interface Readiness {
  readonly ready: boolean;
  readonly queue: QueueLoad & { readonly full: boolean };
  readonly backends: Record<string, BackendSnapshot & { readonly ready: boolean }>;
  readonly error?: string;
}

/**
 * The job lifecycle the HTTP API sees, the same over either transport: admission (what can run it, how
 * many wait), reading, cancelling, following a job to its end, and failing jobs that nothing can run.
 * Followers derive events from successive readings of the job, so a dropped notice, a restarted Redis
 * or a lost job never leaves a client waiting forever.
 */
export class JobService {
  private readonly strandedSince = new Map<string, number>();
  private readonly closing = new AbortController();
  /** Each follower's way to read its job once more and wait for that (shutdown lets them see the end). */
  private readonly followers = new Set<() => Promise<void>>();
  private accepting = true;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(readonly transport: JobTransport, private readonly backendNames: readonly string[], private readonly options: JobServiceOptions) {}

  start(): void {
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), this.options.checkIntervalMs);
    this.sweeper.unref();
  }

  async snapshots(): Promise<BackendSnapshot[]> {
    const known = await this.transport.snapshots();
    // A backend with no live unit anywhere (no worker, say) still has a snapshot: empty, not ready.
    return this.backendNames.map((name) => known.find((s) => s.backend === name) ?? { backend: name, units: [], models: [], modelErrors: [] });
  }

  /**
   * Checks the work against what can run it now and queues it; every refusal is thrown before anything is
   * stored. `owner` (a digest of the caller's API key) alone may see the job afterwards.
   */
  async submit(backend: string, work: UpscaleWork, parameters: Record<string, unknown>, owner?: string): Promise<JobRecord> {
    if (!this.accepting) throw new BackendError('the service is shutting down; retry on another node', 'SHUTTING_DOWN');
    const snapshot = (await this.snapshots()).find((s) => s.backend === backend)!;
    const refusal = refusalAvoiding(snapshot, work, []);
    if (refusal !== undefined) throw refusal;
    const record = newRecord(randomUUID(), backend, work, parameters, owner);
    await this.transport.add({ record, work }, this.options.maxQueued);
    return record;
  }

  /** The job as `caller` may see it: another key's job is "not found", word for word, so ids leak nothing. */
  async get(id: string, caller: string | undefined): Promise<JobRecord> {
    const job = await this.transport.get(id);
    if (job === undefined || !isVisibleTo(job, caller)) throw new UserError(`job ${id} not found (unknown, finished more than RESULT_TTL_SECONDS ago, or lost with a Redis that restarted without persistence)`, 'JOB_NOT_FOUND');
    return job;
  }

  result(job: JobRecord): Promise<JobResult | undefined> {
    return this.transport.result(job.id);
  }

  preview(job: JobRecord): Promise<PreviewImage | undefined> {
    return this.transport.preview(job.id);
  }

  position(job: JobRecord): Promise<number | undefined> {
    return this.transport.position(job);
  }

  /** Cancels a queued or running job; one that has ended is a 409 (JOB_FINISHED) rather than a cancel that does nothing. */
  async cancel(job: JobRecord): Promise<void> {
    if (isFinished(job.state)) throw new UserError(`job ${job.id} has already ended (${job.state}); only a queued or running job can be cancelled`, 'JOB_FINISHED');
    await this.transport.cancel(job);
  }

  async readiness(): Promise<Readiness> {
    try {
      const [load, snapshots] = await Promise.all([this.transport.load(), this.snapshots()]);
      const full = load.waiting >= this.options.maxQueued;
      const backends = Object.fromEntries(snapshots.map((s) => [s.backend, { ...s, ready: isReady(s) }]));
      const ready = !full && this.accepting && Object.values(backends).every((b) => b.ready);
      return { ready, queue: { ...load, full }, backends };
    } catch (error) {
      return { ready: false, queue: { waiting: 0, running: 0, full: false }, backends: {}, error: (error as Error).message };
    }
  }

  /**
   * Every change of the job from `seen` on, until it ends (then the listener is removed), the job is lost
   * (a `failed` event saying so), or this node shuts down (a `closing` event). Returns the unsubscribe.
   */
  follow(seen: JobRecord, listener: (event: JobEvent, job: JobRecord) => void): () => void {
    let last = seen;
    let stopped = false;
    let reading = Promise.resolve();
    const flush = (): Promise<void> => {
      read();
      return reading;
    };
    const stop = (): void => {
      stopped = true;
      this.followers.delete(flush);
      unwatch();
      clearInterval(timer);
      this.closing.signal.removeEventListener('abort', onClosing);
    };
    const emit = (event: JobEvent, job: JobRecord): void => {
      if (stopped) return;
      if (isEndEvent(event) || event.type === 'closing') stop();
      listener(event, job);
    };
    // Each read takes the job as it is then, so notices that arrive while one waits add nothing to it.
    let readQueued = false;
    const read = (): void => {
      if (readQueued) return;
      readQueued = true;
      reading = reading.then(async () => {
        readQueued = false;
        if (stopped) return;
        let now: JobRecord | undefined;
        try {
          now = await this.transport.get(seen.id);
        } catch {
          return; // unreachable for now: the next tick reads again
        }
        if (now === undefined) {
          const error = jobError('JOB_LOST', `job ${seen.id} is gone: its store no longer has it (a Redis restarted without persistence, or it expired)`);
          return emit({ type: 'failed', error }, { ...last, state: 'failed', error });
        }
        for (const event of eventsBetween(last, now)) emit(event, now);
        last = now;
      });
    };
    const onClosing = (): void => emit({ type: 'closing', message: 'this API node is shutting down; the job goes on: follow it again at another node' }, last);
    this.followers.add(flush);
    const unwatch = this.transport.watch(seen.id, read);
    const timer = setInterval(read, this.options.checkIntervalMs);
    timer.unref();
    this.closing.signal.addEventListener('abort', onClosing, { once: true });
    // Listeners hear of the job only after follow() has returned their unsubscribe function.
    queueMicrotask(this.closing.signal.aborted ? onClosing : read);
    return stop;
  }

  /** The job once it has ended; rejects when it is lost or this node shuts down first. */
  settled(job: JobRecord): Promise<JobRecord> {
    if (isFinished(job.state)) return Promise.resolve(job);
    return new Promise((resolve, reject) => {
      this.follow(job, (event, now) => {
        if (event.type === 'closing') reject(new BackendError(`${event.message} (GET /jobs/${job.id})`, 'SHUTTING_DOWN'));
        else if (isEndEvent(event)) resolve(now);
      });
    });
  }

  /**
   * Fails waiting jobs that no unit anywhere could run for longer than the grace: a dead A1111, a worker
   * fleet gone, a companion instance replaced by a stock one. Without this they would wait forever.
   */
  async sweep(): Promise<void> {
    const [waiting, snapshots] = await Promise.all([this.transport.waiting(), this.snapshots()]);
    const now = Date.now();
    const seen = new Set<string>();
    for (const job of waiting) {
      seen.add(job.id);
      const refusal = refusalAvoiding(snapshots.find((s) => s.backend === job.backend)!, job.work, job.avoid);
      if (refusal === undefined) {
        this.strandedSince.delete(job.id);
        continue;
      }
      const since = this.strandedSince.get(job.id) ?? now;
      this.strandedSince.set(job.id, since);
      if (now - since < this.options.unavailableGraceMs) continue;
      const error = jobError('BACKEND_UNAVAILABLE', `no ${job.backend} unit could run this job for ${Math.round((now - since) / 1000)} s: ${refusal.message}`);
      await this.transport.failWaiting(job.id, error);
      this.strandedSince.delete(job.id);
    }
    for (const id of this.strandedSince.keys()) if (!seen.has(id)) this.strandedSince.delete(id);
  }

  /**
   * Stops taking jobs and ends every follower: in-process jobs fail (their followers see that), jobs held
   * by workers go on (their followers get `closing`).
   */
  async shutdown(): Promise<void> {
    this.accepting = false;
    clearInterval(this.sweeper);
    await this.transport.shutdown();
    await Promise.all([...this.followers].map((flush) => flush()));
    this.closing.abort();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.transport.close();
  }
}
