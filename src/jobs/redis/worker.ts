import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Backend, Lease, UpscaleWork } from '../../backends/backend.js';
import { BackendError, UserError } from '../../errors.js';
import { CANCEL_CHANNEL, encodeFailure, fromWire, queueName, type JobData, type WireOutcome } from './wire.js';

export interface WorkerOptions {
  readonly redisUrl: string;
  readonly backends: ReadonlyMap<string, Backend>;
  /** Jobs one process takes at once per backend (its A1111 instances, or ONNX_CONCURRENCY). */
  readonly concurrency: (backend: string) => number;
  readonly lockMs: number;
  readonly log: (message: string) => void;
}

const LEASE_POLL_MS = 100;

/**
 * Takes jobs from Redis and runs them on this process's backends. A cancel published by any API node
 * aborts the job here if this worker holds it; a worker that dies stops renewing its lock, and BullMQ
 * hands the job to another worker.
 */
export async function startWorkers(options: WorkerOptions): Promise<{ close(): Promise<void> }> {
  const running = new Map<string, AbortController>();
  const subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel, id: string) => running.get(id)?.abort(new UserError('cancelled', 409)));

  const workers: Worker[] = [];
  for (const [name, backend] of options.backends) {
    await backend.start();
    const worker = new Worker<JobData, WireOutcome>(queueName(name), async (job) => {
      const work = fromWire(job.data.work);
      const controller = new AbortController();
      running.set(job.id!, controller);
      try {
        backend.check(work);
        const lease = await waitForLease(backend, work, controller.signal);
        options.log(`job ${job.id} on ${name}: ${lease.ranOn}`);
        const outcome = await lease.run(work, (report) => void job.updateProgress({ ...report }), controller.signal);
        controller.signal.throwIfAborted();
        return { png: Buffer.from(outcome.png).toString('base64'), seed: outcome.seed, ranOn: outcome.ranOn };
      } catch (error) {
        if (controller.signal.aborted) throw new UnrecoverableError(encodeFailure('cancelled'));
        const status = error instanceof UserError || error instanceof BackendError ? error.status : 500;
        throw new UnrecoverableError(encodeFailure({ status, message: (error as Error).message }));
      } finally {
        running.delete(job.id!);
      }
    }, {
      connection: new Redis(options.redisUrl, { maxRetriesPerRequest: null }),
      concurrency: options.concurrency(name),
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.round(options.lockMs / 2)),
      maxStalledCount: 2,
    });
    worker.on('error', (error) => options.log(`worker ${name}: ${error.message}`));
    workers.push(worker);
    options.log(`worker: taking ${name} jobs (concurrency ${options.concurrency(name)})`);
  }
  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([...options.backends.values()].map((b) => b.stop()));
      subscriber.disconnect();
    },
  };
}

/** The worker took the job because it has capacity, but an instance may be briefly down or busy. */
async function waitForLease(backend: Backend, work: UpscaleWork, signal: AbortSignal): Promise<Lease> {
  for (;;) {
    signal.throwIfAborted();
    const lease = backend.acquire(work);
    if (lease !== undefined) return lease;
    if (!backend.status().ready) throw new BackendError(`backend ${backend.name} has no usable unit on this worker`, 503);
    await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
  }
}
