import type { Config } from '../../config.js';
import { BackendError, UserError } from '../../errors.js';
import { SAMPLER_NAMES } from '../../samplers/catalog.js';
import type { Backend, BackendCapabilities, BackendStatus, Lease, UpscaleWork } from '../backend.js';
import { A1111Client } from './client.js';
import { A1111Instance } from './instance.js';
import { supportedMethods, supportedSchedulers, unsupportedReason } from './payload.js';
import type { Dispatcher } from 'undici';

/**
 * A1111 instances as one backend: each runs one job at a time; a job goes to the first free healthy
 * instance that supports it. Instances that fail are marked down and probed again every health interval.
 */
export class A1111Backend implements Backend {
  readonly name = 'a1111';
  readonly instances: A1111Instance[];
  private readonly listeners: (() => void)[] = [];
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly config: Pick<Config, 'a1111' | 'a1111TimeoutMs' | 'a1111ProbeTimeoutMs' | 'healthCheckIntervalMs' | 'progressIntervalMs'>, dispatcher?: Dispatcher) {
    this.instances = config.a1111.map((endpoint) => new A1111Instance(
      new A1111Client(endpoint, { timeoutMs: config.a1111TimeoutMs, probeTimeoutMs: config.a1111ProbeTimeoutMs, ...(dispatcher ? { dispatcher } : {}) }),
      config.progressIntervalMs,
    ));
  }

  async start(): Promise<void> {
    await this.probe();
    this.healthTimer = setInterval(() => void this.probe(), this.config.healthCheckIntervalMs);
    this.healthTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.healthTimer);
  }

  onCapacity(listener: () => void): void {
    this.listeners.push(listener);
  }

  capabilities(): BackendCapabilities {
    const modes = this.instances.filter((i) => i.healthy && i.mode).map((i) => i.mode!);
    const union = (lists: (readonly string[])[]): string[] => [...new Set(lists.flat())];
    return {
      methods: union(modes.map(supportedMethods)),
      schedulers: union(modes.map(supportedSchedulers)),
      samplers: modes.length > 0 ? SAMPLER_NAMES : [],
    };
  }

  status(): BackendStatus {
    return {
      ready: this.instances.some((i) => i.healthy),
      detail: this.instances.map((i) => ({
        target: i.url,
        healthy: i.healthy,
        busy: i.busy,
        ...(i.mode ? { mode: i.mode.kind } : {}),
        ...(i.lastError ? { error: i.lastError } : {}),
      })),
    };
  }

  check(work: UpscaleWork): void {
    const healthy = this.instances.filter((i) => i.healthy);
    if (healthy.length === 0) {
      const errors = this.instances.map((i) => i.lastError ?? `A1111 at ${i.url} not probed yet`).join('; ');
      throw new BackendError(`no A1111 instance is reachable (${errors})`, 503);
    }
    const reasons = healthy.map((i) => unsupportedReason(work, i.mode!));
    if (reasons.every((r) => r !== undefined)) throw new UserError(reasons[0]!);
  }

  acquire(work: UpscaleWork): Lease | undefined {
    const instance = this.instances.find((i) => i.healthy && !i.busy && unsupportedReason(work, i.mode!) === undefined);
    if (instance === undefined) return undefined;
    instance.busy = true;
    return {
      ranOn: instance.url,
      run: async (job, onProgress, signal) => {
        try {
          return await instance.run(job, onProgress, signal);
        } catch (error) {
          // Unreachable or silent instances go down until the next probe; an A1111 error answer (502) does not.
          if (error instanceof BackendError && error.status !== 502) instance.markDown(error);
          throw error;
        } finally {
          instance.busy = false;
          this.notify();
        }
      },
    };
  }

  /** Re-detects every idle instance: a down one may be back (or have gained the companion), an up one may be gone. */
  private async probe(): Promise<void> {
    const idle = this.instances.filter((i) => !i.busy);
    await Promise.all(idle.map((i) => i.detect()));
    if (idle.some((i) => i.healthy)) this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
