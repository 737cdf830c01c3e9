import type { Dispatcher } from 'undici';
import type { Config } from '../../config.js';
import { BackendError } from '../../errors.js';
import type { Backend, BackendSnapshot, Lease, UpscaleWork } from '../backend.js';
import { A1111Client } from './client.js';
import { A1111Instance, StallError } from './instance.js';
import { unsupportedReason } from './payload.js';

export type A1111Config = Pick<Config, 'a1111' | 'a1111TimeoutMs' | 'a1111ProbeTimeoutMs' | 'a1111StallMs' | 'a1111MaxFailures' | 'a1111CheckPixels' | 'healthCheckIntervalMs' | 'progressIntervalMs'>;

/**
 * A1111 instances as one backend: each runs one job at a time; a job goes to the first free healthy
 * instance that supports it. Instances that fail are marked down and probed again every health interval.
 */
export class A1111Backend implements Backend {
  readonly name = 'a1111';
  readonly instances: A1111Instance[];
  private readonly listeners: (() => void)[] = [];
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly config: A1111Config, dispatcher?: Dispatcher, log?: (message: string) => void) {
    const policy = {
      progressIntervalMs: config.progressIntervalMs,
      stallMs: config.a1111StallMs,
      maxFailures: config.a1111MaxFailures,
      checkPixels: config.a1111CheckPixels,
      quarantineMs: 4 * config.healthCheckIntervalMs,
      ...(log ? { log } : {}),
    };
    this.instances = config.a1111.map((endpoint) => new A1111Instance(
      new A1111Client(endpoint, { timeoutMs: config.a1111TimeoutMs, probeTimeoutMs: config.a1111ProbeTimeoutMs, ...(dispatcher ? { dispatcher } : {}) }),
      policy,
    ));
  }

  get slots(): number {
    return this.instances.length;
  }

  async start(): Promise<void> {
    await this.probe();
    this.healthTimer = setInterval(() => void this.probe(), this.config.healthCheckIntervalMs);
    this.healthTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.healthTimer);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  snapshot(): BackendSnapshot {
    return {
      backend: this.name,
      units: this.instances.map((i) => ({
        target: i.url,
        healthy: i.healthy,
        busy: i.busy,
        ...(i.mode ? { mode: i.mode.kind, a1111: i.mode } : {}),
        ...(i.lastError ? { error: i.lastError } : {}),
        ...(i.warning ? { warning: i.warning } : {}),
      })),
      models: [],
      modelErrors: [],
    };
  }

  acquire(work: UpscaleWork, avoid: ReadonlySet<string> = new Set()): Lease | undefined {
    const instance = this.instances.find((i) => i.healthy && !i.busy && !avoid.has(i.url) && unsupportedReason(work, i.mode!) === undefined);
    if (instance === undefined) return undefined;
    instance.busy = true;
    // Free from the moment A1111 starts answering (it has finished the job), so that the next job is on
    // its way while this answer is read and checked.
    // Once only: by the time this job ends, the instance may already be busy with the next one.
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      instance.busy = false;
      this.notify();
    };
    return {
      ranOn: instance.url,
      run: async (job, onProgress, signal) => {
        try {
          const outcome = await instance.run(job, onProgress, signal, release);
          instance.succeeded();
          return outcome;
        } catch (error) {
          // A cancel is nobody's fault; anything else the instance did counts against it.
          if (error instanceof BackendError && !signal.aborted) instance.failed(error, error instanceof StallError);
          throw error;
        } finally {
          release();
        }
      },
    };
  }

  /** Re-detects every idle instance: a down one may be back (or have gained the companion), an up one may be gone. */
  private async probe(): Promise<void> {
    const idle = this.instances.filter((i) => !i.busy);
    await Promise.all(idle.map((i) => i.detect()));
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
