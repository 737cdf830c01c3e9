import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Job as BullJob, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { UpscaleOutcome, UpscaleWork } from '../../backends/backend.js';
import { BackendError } from '../../errors.js';
import { FINISHED_STATES, endEvent, whenSettled, type Job, type JobEvent, type JobResult } from '../job.js';
import type { JobObserver } from '../queue.js';
import type { JobStore } from '../store.js';
import { CANCEL_CHANNEL, cancelledKey, decodeFailure, fromWire, outcomeFromWire, queueName, toWire, type JobData, type WireOutcome } from './wire.js';

export interface RedisStoreOptions {
  readonly redisUrl: string;
  readonly backends: readonly string[];
  readonly maxQueued: number;
  readonly resultTtlMs: number;
  readonly finish: (job: Job, outcome: UpscaleOutcome) => JobResult;
  /** Told when a job this node follows ends (metrics: outcome, total time, steps). */
  readonly observer?: Pick<JobObserver, 'ended'>;
}

/**
 * Jobs in Redis through BullMQ: API nodes add them, `latent-upscale worker` processes run them. Each API
 * node mirrors the jobs it is asked about and follows them through BullMQ's queue events, so job state,
 * SSE progress and results work whichever machine runs the job, and a restarted node finds them again.
 */
export class RedisJobStore implements JobStore {
  private readonly connection: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly queueEvents: QueueEvents[] = [];
  private readonly mirror = new Map<string, Job>();
  private readonly events = new EventEmitter();

  constructor(private readonly options: RedisStoreOptions) {
    this.events.setMaxListeners(0);
    this.connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    // A lost connection shows up as rejected calls (503 to the client) and readiness going false; the
    // connection-level error events would only repeat that on stderr while ioredis reconnects.
    this.connection.on('error', () => undefined);
    for (const backend of options.backends) {
      const queue = new Queue(queueName(backend), { connection: this.connection });
      this.queues.set(backend, queue);
      const events = new QueueEvents(queueName(backend), { connection: { url: options.redisUrl } as never });
      events.on('error', () => undefined);
      events.on('active', ({ jobId }) => this.update(jobId, (job) => { job.state = 'running'; job.startedAt ??= new Date(); }, () => ({ type: 'running', ranOn: 'worker' })));
      events.on('progress', ({ jobId, data }) => {
        const report = data as { progress: number; step: number; steps: number; etaSeconds?: number; ranOn?: string };
        this.update(jobId, (job) => Object.assign(job, { state: 'running', progress: report.progress, step: report.step, steps: report.steps || job.steps, etaSeconds: report.etaSeconds }),
          () => ({ type: 'progress', progress: report.progress, step: report.step, steps: report.steps, ...(report.etaSeconds !== undefined ? { etaSeconds: report.etaSeconds } : {}) }));
      });
      events.on('completed', ({ jobId }) => void this.refresh(backend, jobId));
      events.on('failed', ({ jobId }) => void this.refresh(backend, jobId));
      this.queueEvents.push(events);
    }
  }

  async submit(backend: string, work: UpscaleWork, parameters: Record<string, unknown>): Promise<Job> {
    if ((await this.load()).full) throw new BackendError(`the queue is full (${this.options.maxQueued} jobs waiting, MAX_QUEUE); retry later`, 503);
    const id = randomUUID();
    const ttlSeconds = Math.ceil(this.options.resultTtlMs / 1000);
    const data: JobData = { work: toWire(work), parameters };
    await this.queues.get(backend)!.add('upscale', data, {
      jobId: id,
      attempts: 1,
      removeOnComplete: { age: ttlSeconds },
      removeOnFail: { age: ttlSeconds },
    });
    const job = this.newJob(id, backend, work, parameters);
    this.mirror.set(id, job);
    return job;
  }

  async get(id: string): Promise<Job | undefined> {
    const known = this.mirror.get(id);
    if (known !== undefined) return known;
    for (const backend of this.queues.keys()) {
      const job = await this.refresh(backend, id);
      if (job !== undefined) return job;
    }
    if (await this.connection.exists(cancelledKey(id))) {
      const data = JSON.parse((await this.connection.get(cancelledKey(id)))!) as { backend: string; data: JobData };
      const job = this.newJob(id, data.backend, fromWire(data.data.work), data.data.parameters);
      job.state = 'cancelled';
      job.finishedAt = new Date();
      this.mirror.set(id, job);
      return job;
    }
    return undefined;
  }

  async position(job: Job): Promise<number | undefined> {
    if (job.state !== 'queued') return undefined;
    // getWaiting lists the oldest first.
    const waiting = await this.queues.get(job.backend)!.getWaiting(0, 10_000);
    const index = waiting.findIndex((w) => w.id === job.id);
    return index < 0 ? undefined : index + 1;
  }

  /** A waiting job is removed at once; a running one is interrupted by whichever worker holds it. */
  async cancel(job: Job): Promise<void> {
    if (FINISHED_STATES.includes(job.state)) return;
    const bull = await BullJob.fromId<JobData>(this.queues.get(job.backend)!, job.id);
    const state = bull ? await bull.getState() : 'unknown';
    if (bull && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
      await this.connection.set(cancelledKey(job.id), JSON.stringify({ backend: job.backend, data: bull.data }), 'PX', this.options.resultTtlMs);
      await bull.remove();
      this.end(job, 'cancelled');
      return;
    }
    await this.connection.publish(CANCEL_CHANNEL, job.id);
  }

  subscribe(job: Job, listener: (event: JobEvent) => void): () => void {
    this.events.on(job.id, listener);
    return () => this.events.off(job.id, listener);
  }

  settled(job: Job): Promise<Job> {
    return whenSettled(job, (j, listener) => this.subscribe(j, listener));
  }

  async load(): Promise<{ waiting: number; running: number; full: boolean }> {
    let waiting = 0;
    let running = 0;
    for (const queue of this.queues.values()) {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
      waiting += (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['delayed'] ?? 0);
      running += counts['active'] ?? 0;
    }
    return { waiting, running, full: waiting >= this.options.maxQueued };
  }

  /** Workers currently connected to a backend's queue (readiness). */
  async workers(backend: string): Promise<number> {
    return (await this.queues.get(backend)!.getWorkers()).length;
  }

  async close(): Promise<void> {
    await Promise.all(this.queueEvents.map((e) => e.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }

  private newJob(id: string, backend: string, work: UpscaleWork, parameters: Record<string, unknown>): Job {
    return { id, backend, work, parameters, createdAt: new Date(), state: 'queued', progress: 0, step: 0, steps: work.steps, abort: new AbortController() };
  }

  private update(id: string, change: (job: Job) => void, event: () => JobEvent): void {
    const job = this.mirror.get(id);
    if (job === undefined || FINISHED_STATES.includes(job.state)) return;
    change(job);
    this.events.emit(id, event());
  }

  /** Reads a job's state from Redis into the mirror (after a finish event, or for a job this node never saw). */
  private async refresh(backend: string, id: string): Promise<Job | undefined> {
    const bull = await BullJob.fromId<JobData, WireOutcome>(this.queues.get(backend)!, id);
    if (bull === undefined) return undefined;
    let job = this.mirror.get(id);
    if (job === undefined) {
      job = this.newJob(id, backend, fromWire(bull.data.work), bull.data.parameters);
      job.createdAt.setTime(bull.timestamp);
      this.mirror.set(id, job);
    }
    if (FINISHED_STATES.includes(job.state)) return job;
    const state = await bull.getState();
    if (state === 'completed' && bull.returnvalue) {
      job.result = this.options.finish(job, outcomeFromWire(bull.returnvalue));
      job.ranOn = bull.returnvalue.ranOn;
      Object.assign(job, { progress: 1, step: job.steps });
      this.end(job, 'succeeded');
    } else if (state === 'failed') {
      const failure = decodeFailure(bull.failedReason);
      if (failure === 'cancelled') this.end(job, 'cancelled');
      else {
        job.error = failure;
        this.end(job, 'failed');
      }
    } else if (state === 'active') {
      job.state = 'running';
      const progress = bull.progress as { progress?: number; step?: number; steps?: number } | number;
      if (typeof progress === 'object') Object.assign(job, { progress: progress.progress ?? 0, step: progress.step ?? 0, steps: progress.steps ?? job.steps });
    }
    return job;
  }

  private end(job: Job, state: 'succeeded' | 'failed' | 'cancelled'): void {
    job.state = state;
    job.finishedAt = new Date();
    this.options.observer?.ended(job);
    this.events.emit(job.id, endEvent(job));
    const timer = setTimeout(() => this.mirror.delete(job.id), this.options.resultTtlMs);
    timer.unref();
  }
}
