import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { Backend, Lease, ProgressReport, UpscaleWork } from '../../backends/backend.js';
import { isReady } from '../../backends/rules.js';
import { BackendError } from '../../errors.js';
import { jobError, type EndState, type JobError, type JobRecord } from '../job.js';
import { CancelledError, MAX_ATTEMPTS, ShutdownError, refusalAvoiding, runAttempt, type JobObserver } from '../runner.js';
import { publishHeartbeat, removeHeartbeat } from './fleet.js';
import {
  CANCEL_CHANNEL, PREVIEW_TTL_MS, encodeFailure, recordFromWire, inputKey, previewKey, previewToWire, queueName, resultKey, workFromWire, type JobData, type WireOutcome, type WireProgress,
} from './wire.js';
import { asBuffer } from '../../formats/bytes.js';

export interface WorkerOptions {
  readonly redisUrl: string;
  /** Names this process in the fleet (heartbeats, /readyz details). */
  readonly workerId: string;
  readonly backends: ReadonlyMap<string, Backend>;
  /** How long a worker's claim on a job lasts without renewal; also its deadline to stop on SIGTERM. */
  readonly lockMs: number;
  readonly resultTtlMs: number;
  readonly heartbeatMs: number;
  readonly observer?: JobObserver;
  readonly log: (message: string) => void;
}

export interface RunningWorkers {
  /** Stops taking jobs, lets running ones finish within the lock time (else hands them back), disconnects. */
  close(): Promise<void>;
}

/** The job's store vanished under it (a Redis restarted without persistence): stop working on it. */
class LostJobError extends BackendError {
  constructor(id: string) {
    super(`job ${id} is no longer in Redis`, 'JOB_LOST');
  }
}

/** A job handed back for capability reasons waits this long, so other workers see it first. */
const OTHERS_FIRST_MS = 200;

/**
 * Takes jobs from Redis and runs them on this process's backends. A worker takes only jobs it can run:
 * while a backend has no healthy unit its queue is paused here, and a job it cannot run now (or whose
 * unit failed, when no other local unit can take it) goes back to the queue for another worker. A
 * cancel published by any API node aborts the job here if this worker holds it; a worker that dies
 * stops renewing its lock, and BullMQ hands the job to another worker.
 */
export async function startWorkers(options: WorkerOptions): Promise<RunningWorkers> {
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // a lost Redis shows as failed calls; ioredis reconnects
  const subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  subscriber.on('error', () => undefined);
  const running = new Map<string, AbortController>();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel, id: string) => running.get(id)?.abort(new CancelledError()));

  const heartbeat = (): Promise<void> => publishHeartbeat(redis, { worker: options.workerId, backends: [...options.backends.values()].map((b) => b.snapshot()) }, 3 * options.heartbeatMs)
    .catch(() => undefined);
  const workers = new Map<Backend, Worker>();
  /** Jobs waiting for a unit of a backend, woken whenever it reports a change. */
  const waiting = new Map<Backend, Set<() => void>>();
  for (const [name, backend] of options.backends) {
    await backend.start();
    const worker = new Worker<JobData, WireOutcome>(queueName(name), (job, token) => processJob(job, token!, backend), {
      connection: { url: options.redisUrl },
      concurrency: Math.max(1, backend.slots),
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.round(options.lockMs / 2)),
      maxStalledCount: 2,
      autorun: false,
    });
    worker.on('error', (error) => options.log(`worker ${name}: ${error.message}`));
    waiting.set(backend, new Set());
    backend.onChange(() => {
      matchCapacity(worker, backend);
      void heartbeat();
      for (const wake of [...waiting.get(backend)!]) wake();
    });
    matchCapacity(worker, backend);
    void worker.run().catch((error: unknown) => options.log(`worker ${name} stopped: ${(error as Error).message}`));
    workers.set(backend, worker);
    options.log(`worker: taking ${name} jobs (concurrency ${backend.slots})`);
  }
  await heartbeat();
  const beat = setInterval(() => void heartbeat(), options.heartbeatMs);

  async function processJob(job: BullJob<JobData, WireOutcome>, token: string, backend: Backend): Promise<WireOutcome> {
    const controller = new AbortController();
    running.set(job.id!, controller);
    try {
      const image = await redis.getBuffer(inputKey(job.id!));
      if (image === null) return end(job, 'failed', jobError('JOB_LOST', 'the job\'s input is no longer in Redis (its submission failed half-way, or Redis lost it)'));
      const work = workFromWire(job.data.work, image);
      const record = recordOf(job.data);
      const avoid = new Set(job.data.avoid);
      let attempts = job.data.attempts;
      for (;;) {
        const lease = await leaseFor(backend, work, avoid, controller.signal);
        if (controller.signal.reason instanceof CancelledError) return end(job, 'cancelled');
        if (lease === undefined) return handBack(job, token, backend, avoid, attempts, controller.signal.aborted ? 0 : OTHERS_FIRST_MS);
        attempts++;
        const report = (progress: WireProgress): void => void job.updateProgress(progress as unknown as object).catch(() => controller.abort(new LostJobError(job.id!)));
        report({ progress: 0, step: 0, steps: work.steps, ranOn: lease.ranOn });
        // A preview goes to its own short-lived key, and the progress that follows it names its step.
        let previewStep: number | undefined;
        const onProgress = ({ preview, ...progress }: ProgressReport): void => {
          const send = (): void => {
            report({ ...progress, ranOn: lease.ranOn, ...(previewStep !== undefined ? { previewStep } : {}) });
            // The preview lives while the job reports: slow steps must not outlast it.
            if (previewStep !== undefined) void redis.pexpire(previewKey(job.id!), PREVIEW_TTL_MS).catch(() => undefined);
          };
          if (preview === undefined) return send();
          void redis.multi().del(previewKey(job.id!)).hset(previewKey(job.id!), previewToWire(preview)).pexpire(previewKey(job.id!), PREVIEW_TTL_MS).exec()
            .then(() => {
              previewStep = Math.max(previewStep ?? 0, preview.step);
              send();
            })
            .catch(() => undefined);
        };
        const outcome = await runAttempt(lease, { record, work }, controller.signal, onProgress, options.observer);
        // Previews are for a running attempt only; the next one (or none) starts without.
        previewStep = undefined;
        void redis.del(previewKey(job.id!)).catch(() => undefined);
        if (outcome.kind === 'succeeded') {
          await redis.multi().set(resultKey(job.id!), asBuffer(outcome.result.png), 'PX', options.resultTtlMs).del(inputKey(job.id!)).exec();
          options.observer?.ended({ ...record, state: 'succeeded', startedAt: new Date(job.processedOn ?? Date.now()), finishedAt: new Date() });
          return { seed: outcome.result.seed, ranOn: outcome.result.ranOn, parameters: outcome.result.parameters };
        }
        if (outcome.kind === 'cancelled') return end(job, 'cancelled');
        const reason: unknown = controller.signal.reason;
        if (reason instanceof ShutdownError) return handBack(job, token, backend, avoid, attempts, 0);
        if (reason instanceof LostJobError) throw reason;
        avoid.add(lease.ranOn);
        if (!outcome.unitFault || attempts >= MAX_ATTEMPTS) return end(job, 'failed', outcome.error);
        // Next round: another local unit if one can run it, else leaseFor finds none and the job is handed back.
      }
    } finally {
      running.delete(job.id!);
    }
  }

  /** Ends the job here: counted once, and its failure reason says why (or that it was cancelled). */
  function end(job: BullJob<JobData, WireOutcome>, state: Exclude<EndState, 'succeeded'>, error?: JobError): never {
    options.observer?.ended({ ...recordOf(job.data), state, finishedAt: new Date(), ...(error ? { error } : {}) });
    throw new UnrecoverableError(encodeFailure(state === 'cancelled' ? 'cancelled' : error!));
  }

  /**
   * Puts the job back in the queue, with the units it failed on, for another worker: at the head at once
   * (a worker stopping), or after `delayMs` so that other workers see it before this one takes it again.
   */
  async function handBack(job: BullJob<JobData, WireOutcome>, token: string, backend: Backend, avoid: ReadonlySet<string>, attempts: number, delayMs: number): Promise<never> {
    matchCapacity(workers.get(backend)!, backend);
    await job.updateData({ ...job.data, avoid: [...avoid], attempts });
    options.log(`job ${job.id} handed back to the queue (this worker cannot run it now)`);
    if (delayMs === 0) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }

  /**
   * A free unit, waiting for one while some local unit could run the work (the backend reports every unit
   * freeing up, recovering or going down); undefined when none can, or when the job is aborted.
   */
  function leaseFor(backend: Backend, work: UpscaleWork, avoid: ReadonlySet<string>, signal: AbortSignal): Promise<Lease | undefined> {
    return new Promise((resolve) => {
      const wakers = waiting.get(backend)!;
      const attempt = (): void => {
        const refused = signal.aborted || refusalAvoiding(backend.snapshot(), work, avoid) !== undefined;
        const lease = refused ? undefined : backend.acquire(work, avoid);
        if (!refused && lease === undefined) return; // every able unit is busy: wait for the next change
        wakers.delete(attempt);
        signal.removeEventListener('abort', attempt);
        resolve(lease);
      };
      wakers.add(attempt);
      signal.addEventListener('abort', attempt);
      attempt();
    });
  }

  return {
    async close() {
      clearInterval(beat);
      await removeHeartbeat(redis, options.workerId).catch(() => undefined);
      const handBackAll = setTimeout(() => {
        for (const controller of running.values()) controller.abort(new ShutdownError('this worker'));
      }, Math.max(options.lockMs - 2000, options.lockMs / 2));
      await Promise.all([...workers.values()].map((worker) => worker.close().catch(() => undefined)));
      clearTimeout(handBackAll);
      await Promise.all([...options.backends.values()].map((backend) => backend.stop()));
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

/** Take as many jobs at once as the usable units can run (A1111_QUEUE_DEPTH per A1111 instance), and none while there is none. */
function matchCapacity(worker: Worker, backend: Backend): void {
  const snapshot = backend.snapshot();
  if (!isReady(snapshot)) {
    if (!worker.isPaused()) void worker.pause(true);
    return;
  }
  worker.concurrency = Math.max(1, backend.capacity());
  if (worker.isPaused()) worker.resume();
}

function recordOf(data: JobData): JobRecord {
  return { ...recordFromWire(data.record, data.work.steps), state: 'running' };
}
