import { BackendError } from '../../errors.js';
import type { ProgressReport, UpscaleOutcome, UpscaleWork } from '../backend.js';
import type { A1111Client } from './client.js';
import { COMPANION_SCRIPT_TITLE, img2imgPayload, type A1111Mode } from './payload.js';

/**
 * One A1111 instance: what it can do (detected from its scripts and schedulers), whether it is healthy,
 * and whether it is running a job. A1111 serialises generation, so an instance takes one job at a time.
 */
export class A1111Instance {
  mode: A1111Mode | undefined;
  healthy = false;
  busy = false;
  lastError: string | undefined;

  constructor(readonly client: A1111Client, private readonly progressIntervalMs: number) {}

  get url(): string {
    return this.client.endpoint.url;
  }

  /** Probe the instance; on success it is healthy and its mode is known, on failure it is marked down. */
  async detect(): Promise<void> {
    try {
      const [scripts, schedulers] = await Promise.all([this.client.scripts(), this.client.schedulers()]);
      const companion = scripts.img2img.map((s) => s.toLowerCase()).includes(COMPANION_SCRIPT_TITLE.toLowerCase());
      this.mode = { kind: companion ? 'companion' : 'native', schedulers };
      this.healthy = true;
      this.lastError = undefined;
    } catch (error) {
      this.markDown(error);
    }
  }

  markDown(error: unknown): void {
    this.healthy = false;
    this.lastError = (error as Error).message;
  }

  /** Runs img2img, polling /progress meanwhile; an abort interrupts A1111 and rejects with the abort reason. */
  async run(work: UpscaleWork, onProgress: (report: ProgressReport) => void, signal: AbortSignal): Promise<UpscaleOutcome> {
    const payload = img2imgPayload(work, this.mode!, Buffer.from(work.image).toString('base64'));
    const onAbort = (): void => void this.client.interrupt().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    const poller = setInterval(() => {
      this.client.progress().then((p) => onProgress(progressReport(p)), () => undefined);
    }, this.progressIntervalMs);
    try {
      const response = await this.client.img2img(payload);
      signal.throwIfAborted();
      const image = response.images[0];
      if (image === undefined) throw new BackendError(`A1111 at ${this.url} returned no image`, 502);
      return { png: Buffer.from(image, 'base64'), seed: seedFromInfo(response.info) ?? work.seed, ranOn: this.url };
    } finally {
      clearInterval(poller);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function progressReport(progress: { progress: number; eta_relative: number; state: { sampling_step: number; sampling_steps: number } }): ProgressReport {
  return {
    progress: Math.min(Math.max(progress.progress, 0), 1),
    step: progress.state.sampling_step,
    steps: progress.state.sampling_steps,
    etaSeconds: progress.eta_relative,
  };
}

/** `info` is a JSON string from Processed.js(); its `seed` is the seed A1111 used. */
function seedFromInfo(info: string): number | undefined {
  try {
    const seed = (JSON.parse(info) as { seed?: unknown }).seed;
    return typeof seed === 'number' ? seed : undefined;
  } catch {
    return undefined;
  }
}
