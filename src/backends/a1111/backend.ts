import type { Dispatcher } from 'undici';
import type { Config } from '../../config.js';
import type { Backend, BackendSnapshot, Lease, UpscaleWork } from '../backend.js';
import { A1111Client } from './client.js';
import { A1111Instance } from './instance.js';
import { unsupportedReason } from './payload.js';

export type A1111Config = Pick<Config, 'a1111' | 'a1111TimeoutMs' | 'a1111ProbeTimeoutMs' | 'a1111StallMs' | 'a1111MaxFailures' | 'a1111CheckPixels' | 'a1111QueueDepth' | 'healthCheckIntervalMs' | 'progressIntervalMs'>;

/**
 * A1111 instances as one backend: each runs one job at a time (with A1111_QUEUE_DEPTH 2, one more waits
 * at its queue); a job goes to the first free healthy instance that supports it. Instances that fail are
 * marked down and probed again every health interval.
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
      queueDepth: config.a1111QueueDepth,
      quarantineMs: 4 * config.healthCheckIntervalMs,
      ...(log ? { log } : {}),
    };
    this.instances = config.a1111.map((endpoint) => new A1111Instance(
      new A1111Client(endpoint, { timeoutMs: config.a1111TimeoutMs, probeTimeoutMs: config.a1111ProbeTimeoutMs, ...(dispatcher ? { dispatcher } : {}) }),
      policy,
    ));
  }

  get slots(): number {
    return this.instances.length * this.config.a1111QueueDepth;
  }

  capacity(): number {
    return this.instances.filter((i) => i.healthy).length * this.config.a1111QueueDepth;
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

  /** An idle instance first; with A1111_QUEUE_DEPTH 2, else one whose running job a next may wait behind. */
  acquire(work: UpscaleWork, avoid: ReadonlySet<string> = new Set()): Lease | undefined {
    const able = this.instances.filter((i) => i.healthy && !i.busy && !avoid.has(i.url) && unsupportedReason(work, i.mode!) === undefined);
    const instance = able.find((i) => i.inLine === 0) ?? able[0];
    if (instance === undefined) return undefined;
    const turn = instance.takeTurn(() => this.notify());
    return {
      ranOn: instance.url,
      run: (job, onProgress, signal) => instance.run(job, onProgress, signal, turn),
    };
  }

  /** Re-detects every idle instance: a down one may be back (or have gained the companion), an up one may be gone. */
  private async probe(): Promise<void> {
    const idle = this.instances.filter((i) => i.inLine === 0);
    await Promise.all(idle.map((i) => i.detect()));
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
