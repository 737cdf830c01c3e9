import { Job as BullJob, Queue, QueueEvents, type JobState as BullState } from 'bullmq';
import { Redis } from 'ioredis';
import type { BackendSnapshot, PreviewImage } from '../../backends/backend.js';
import { BackendError } from '../../errors.js';
import { isFinished, succeededParameters, type JobError, type JobRecord, type JobResult, type NewJob } from '../job.js';
import type { JobObserver } from '../runner.js';
import { QueueFullError, type JobTransport, type QueueLoad, type WaitingJob } from '../transport.js';
import { mergeFleet, readFleet } from './fleet.js';
import {
  CANCEL_CHANNEL, INPUT_TTL_MS, decodeEnded, decodeFailure, encodeEnded, endedKey, inputKey, queueName, recordFromWire, recordToWire, resultKey, workToWire, previewKey, previewFromWire,
  type JobData, type WireOutcome, type WireProgress,
} from './wire.js';
import { samplerNamed } from '../../samplers/catalog.js';
import { asBuffer } from '../../formats/bytes.js';

export interface RedisTransportOptions {
  readonly redisUrl: string;
  readonly backends: readonly string[];
  readonly resultTtlMs: number;
  /** Longest wait for Redis in a request; past it the request answers 503 (REDIS_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Counts the jobs this node ends itself: cancelled or failed while waiting. */
  readonly observer?: Pick<JobObserver, 'ended'>;
}

type Bull = BullJob<JobData, WireOutcome>;

/** How long a node keeps trying to take back a job whose submission failed. */
const FORGET_FOR_MS = 60_000;

/**
 * The API node's side of Redis mode: jobs wait in BullMQ queues (one per backend) for `latent-upscale
 * worker` processes. Redis is the only copy of every job: nothing per job is kept here but the listeners
 * of clients following one. Calls fail fast (503) while Redis is unreachable instead of queueing up.
 */
export class RedisTransport implements JobTransport {
  private readonly redis: Redis;
  private readonly queues = new Map<string, Queue<JobData, WireOutcome>>();
  private readonly queueEvents: QueueEvents[] = [];
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly forgetting = new Set<NodeJS.Timeout>();

  constructor(private readonly options: RedisTransportOptions) {
    // No offline queue: a command sent while Redis is down fails at once rather than run minutes later
    // for a client that has long given up.
    this.redis = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: options.timeoutMs });
    this.redis.on('error', () => undefined); // seen as failed calls (503) and readiness going false
    for (const backend of options.backends) {
      const queue = new Queue<JobData, WireOutcome>(queueName(backend), { connection: this.redis });
      queue.on('error', () => undefined);
      this.queues.set(backend, queue);
      const events = new QueueEvents(queueName(backend), { connection: { url: options.redisUrl } });
      events.on('error', () => undefined);
      for (const type of ['waiting', 'active', 'progress', 'completed', 'failed', 'removed'] as const) {
        events.on(type, ({ jobId }: { jobId: string }) => this.notify(jobId));
      }
      this.queueEvents.push(events);
    }
  }

  async add({ record, work }: NewJob, maxQueued: number): Promise<void> {
    const queue = this.queue(record.backend);
    const ttlSeconds = Math.ceil(this.options.resultTtlMs / 1000);
    const data: JobData = { record: recordToWire(record), work: workToWire(work), avoid: [], attempts: 0 };
    try {
      await this.guard('storing the input', this.redis.set(inputKey(record.id), asBuffer(work.image), 'PX', INPUT_TTL_MS));
      await this.guard('queueing the job', queue.add('upscale', data, { jobId: record.id, attempts: 1, removeOnComplete: { age: ttlSeconds }, removeOnFail: { age: ttlSeconds } }));
      // Add, then look at the place taken: jobs added later never move an earlier one back, so the
      // limit holds however many nodes add at once.
      const place = await this.guard('counting the queue', this.placeInLine(record.backend, record.id, true));
      if (place !== undefined && place > maxQueued && (await this.guard('refusing the job', queue.remove(record.id))) === 1) {
        await this.redis.del(inputKey(record.id)).catch(() => undefined);
        throw new QueueFullError(maxQueued);
      }
    } catch (error) {
      if (!(error instanceof QueueFullError)) this.forget(record.id, queue);
      throw error;
    }
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return (await this.read(id))?.record;
  }

  async preview(id: string): Promise<PreviewImage | undefined> {
    return previewFromWire(await this.guard('reading the preview', this.redis.hgetallBuffer(previewKey(id))));
  }

  async result(id: string): Promise<JobResult | undefined> {
    const found = await this.read(id);
    const outcome = found?.bull?.returnvalue;
    if (found?.record.state !== 'succeeded' || outcome == null) return undefined;
    const png = await this.guard('reading the result', this.redis.getBuffer(resultKey(id)));
    return png === null ? undefined : { png, seed: outcome.seed, ranOn: outcome.ranOn, parameters: outcome.parameters };
  }

  async position(job: JobRecord): Promise<number | undefined> {
    return job.state === 'queued' ? this.guard('counting the queue', this.placeInLine(job.backend, job.id, false)) : undefined;
  }

  async cancel(job: JobRecord): Promise<void> {
    if (isFinished(job.state)) return;
    if (await this.endWaiting(job.id, 'cancelled')) return;
    await this.guard('sending the cancel', this.redis.publish(CANCEL_CHANNEL, job.id));
  }

  watch(id: string, listener: () => void): () => void {
    const listeners = this.watchers.get(id) ?? new Set();
    listeners.add(listener);
    this.watchers.set(id, listeners);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.watchers.delete(id);
    };
  }

  async load(): Promise<QueueLoad> {
    let waiting = 0;
    let running = 0;
    for (const queue of this.queues.values()) {
      const counts = await this.guard('counting the queue', queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active'));
      waiting += (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['delayed'] ?? 0);
      running += counts['active'] ?? 0;
    }
    return { waiting, running };
  }

  async snapshots(): Promise<BackendSnapshot[]> {
    return mergeFleet(await this.guard('reading the workers', readFleet(this.redis)));
  }

  async waiting(): Promise<WaitingJob[]> {
    const jobs: WaitingJob[] = [];
    for (const [backend, queue] of this.queues) {
      const waiting = await this.guard('listing the queue', queue.getJobs(['waiting', 'prioritized', 'delayed']));
      for (const bull of waiting) {
        if (bull?.id === undefined) continue;
        jobs.push({ id: bull.id, backend, work: { ...bull.data.work, sampler: samplerNamed(bull.data.work.sampler) }, avoid: bull.data.avoid });
      }
    }
    return jobs;
  }

  failWaiting(id: string, error: JobError): Promise<boolean> {
    return this.endWaiting(id, 'failed', error);
  }

  async shutdown(): Promise<void> {}

  async close(): Promise<void> {
    for (const timer of this.forgetting) clearTimeout(timer);
    await Promise.all(this.queueEvents.map((events) => events.close().catch(() => undefined)));
    await Promise.all([...this.queues.values()].map((queue) => queue.close().catch(() => undefined)));
    this.redis.disconnect();
  }

  /** A job's record, and its BullMQ job while BullMQ still has it (an ended-while-waiting job has only a record). */
  private async read(id: string): Promise<{ readonly record: JobRecord; readonly bull?: Bull } | undefined> {
    for (const queue of this.queues.values()) {
      const bull = await this.guard('reading the job', BullJob.fromId<JobData, WireOutcome>(queue, id)) as Bull | undefined;
      if (bull === undefined) continue;
      const record = recordFrom(bull, await this.guard('reading the job state', bull.getState()));
      return record === undefined ? undefined : { record, bull };
    }
    const ended = await this.guard('reading the job', this.redis.get(endedKey(id)));
    return ended === null ? undefined : { record: decodeEnded(ended) };
  }

  private queue(backend: string): Queue<JobData, WireOutcome> {
    return this.queues.get(backend)!;
  }

  private notify(id: string): void {
    for (const listener of this.watchers.get(id) ?? []) listener();
  }

  /**
   * A waiting job's place: BullMQ pushes new jobs on the left of the wait list and workers take from
   * the right, so the jobs ahead are those to its right. With `everything`, waiting jobs of the other
   * backends count too (the limit is on all jobs waiting). Undefined when it is not waiting.
   */
  private async placeInLine(backend: string, id: string, everything: boolean): Promise<number | undefined> {
    const waitKey = this.queue(backend).keys['wait']!;
    const [[, length], [, index]] = (await this.redis.multi().llen(waitKey).lpos(waitKey, id).exec()) as [[null, number], [null, number | null]];
    if (index === null) return undefined;
    let others = 0;
    if (everything) {
      for (const [name, queue] of this.queues) if (name !== backend) others += await this.redis.llen(queue.keys['wait']!);
    }
    return length - index + others;
  }

  /** Ends a job that is still waiting (removes it from its queue, keeps a record); false when it is not waiting. */
  private async endWaiting(id: string, state: 'cancelled' | 'failed', error?: JobError): Promise<boolean> {
    const found = await this.read(id);
    if (found?.bull === undefined || found.record.state !== 'queued') return false;
    if ((await this.guard('removing the job', this.queue(found.record.backend).remove(id))) !== 1) return false;
    const record: JobRecord = { ...found.record, state, finishedAt: new Date(), ...(error ? { error } : {}) };
    await this.guard('recording the end', this.redis.multi().set(endedKey(id), encodeEnded(record), 'PX', this.options.resultTtlMs).del(inputKey(id)).exec());
    this.options.observer?.ended(record);
    this.notify(id);
    return true;
  }

  /**
   * A submission that failed half-way may still be (or later become) queued: take the job back out and
   * drop its input, retrying until Redis answers, so a job whose client got no id never runs.
   */
  private forget(id: string, queue: Queue<JobData, WireOutcome>): void {
    const until = Date.now() + FORGET_FOR_MS;
    const attempt = (): void => {
      Promise.all([queue.remove(id), this.redis.del(inputKey(id))]).catch(() => {
        if (Date.now() > until) return;
        const timer = setTimeout(() => {
          this.forgetting.delete(timer);
          attempt();
        }, 1000);
        timer.unref();
        this.forgetting.add(timer);
      });
    };
    attempt();
  }

  /** Every Redis call of a request, bounded: an unreachable or frozen Redis is a 503 naming the step. */
  private guard<T>(what: string, call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new BackendError(`Redis did not answer within ${this.options.timeoutMs} ms (${what}); retry later`, 'STORE_UNAVAILABLE')), this.options.timeoutMs);
    });
    const failed = call.catch((error: unknown) => {
      if (error instanceof BackendError) throw error;
      throw new BackendError(`Redis is unreachable (${what}: ${(error as Error).message}); retry later`, 'STORE_UNAVAILABLE');
    });
    return Promise.race([failed, deadline]).finally(() => clearTimeout(timer));
  }
}

const isWaiting = (state: BullState | 'unknown'): boolean => state === 'waiting' || state === 'prioritized' || state === 'delayed';

/** A job record from BullMQ's job hash and state; undefined when BullMQ no longer knows the state. */
function recordFrom(bull: Bull, state: BullState | 'unknown'): JobRecord | undefined {
  const { record, work } = bull.data;
  const progress = typeof bull.progress === 'object' ? bull.progress as unknown as WireProgress : undefined;
  const base: JobRecord = {
    ...recordFromWire(record, progress?.steps || work.steps),
    progress: progress?.progress ?? 0, step: progress?.step ?? 0,
    ...(progress?.etaSeconds !== undefined ? { etaSeconds: progress.etaSeconds } : {}),
    ...(progress?.ranOn !== undefined ? { ranOn: progress.ranOn } : {}),
    ...(progress?.previewStep !== undefined ? { previewStep: progress.previewStep } : {}),
    ...(bull.processedOn ? { startedAt: new Date(bull.processedOn) } : {}),
  };
  const finishedAt = bull.finishedOn ? { finishedAt: new Date(bull.finishedOn) } : {};
  if (isWaiting(state)) return base;
  if (state === 'active') return { ...base, state: 'running' };
  if (state === 'completed') {
    const outcome = bull.returnvalue;
    return { ...base, ...finishedAt, state: 'succeeded', progress: 1, step: base.steps, ranOn: outcome?.ranOn ?? base.ranOn, ...(outcome ? { parameters: succeededParameters(outcome.parameters) } : {}) };
  }
  if (state === 'failed') {
    const failure = decodeFailure(bull.failedReason);
    return failure === 'cancelled' ? { ...base, ...finishedAt, state: 'cancelled' } : { ...base, ...finishedAt, state: 'failed', error: failure };
  }
  return undefined;
}
