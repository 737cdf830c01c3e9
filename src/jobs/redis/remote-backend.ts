import { UPSCALE_METHOD_NAMES } from '../../interpolation/methods.js';
import { SAMPLER_NAMES } from '../../samplers/catalog.js';
import { NATIVE_SAMPLERS } from '../../samplers/k-diffusion.js';
import { SCHEDULERS } from '../../schedules/schedulers.js';
import type { Backend, BackendCapabilities, BackendStatus, Lease } from '../../backends/backend.js';
import type { RedisJobStore } from './store.js';

/**
 * An API node's view of a backend whose units run in worker processes: it can say what the backend
 * offers and whether any worker is connected, but runs nothing itself (the workers check each job).
 */
export class RemoteBackend implements Backend {
  private connectedWorkers = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly name: string, private readonly store: () => RedisJobStore, private readonly refreshMs: number) {}

  capabilities(): BackendCapabilities {
    return {
      methods: UPSCALE_METHOD_NAMES,
      schedulers: SCHEDULERS.map((s) => s.name),
      samplers: this.name === 'onnx' ? Object.keys(NATIVE_SAMPLERS) : SAMPLER_NAMES,
    };
  }

  status(): BackendStatus {
    return { ready: this.connectedWorkers > 0, detail: [{ target: `workers on ${this.name}`, healthy: this.connectedWorkers > 0, busy: false, mode: `${this.connectedWorkers} connected` }] };
  }

  check(): void {}

  acquire(): Lease | undefined {
    return undefined;
  }

  onCapacity(): void {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    this.connectedWorkers = await this.store().workers(this.name).catch(() => 0);
  }
}
