import { join } from 'node:path';
import { unknownName } from '../../errors.js';
import type { EngineOptions } from '../../engine/session-pool.js';
import { decodeImage } from '../../images/decode.js';
import { encodeRgbPixelsOffThread } from '../../images/encode.js';
import { checkpointFiles, convertCheckpointsIn } from '../../convert/cache.js';
import type { StoragePrecision } from '../../convert/weights.js';
import { familyNamed, type ModelFamily } from '../../models/families.js';
import { findModels } from '../../models/loader.js';
import type { TileOptions } from '../../pipeline/stages.js';
import type { Backend, BackendSnapshot, Lease, ModelView, UpscaleWork } from '../backend.js';
import { DecodeTimes, SamplingEta } from './eta.js';
import { PipelineThread } from './thread.js';
import type { ModelFacts } from './thread-protocol.js';

/** A model the pipeline thread has loaded, as this thread knows it. */
type LoadedModel = Omit<ModelFacts, 'family'> & { readonly family: ModelFamily; readonly folder: string };

export interface OnnxBackendOptions {
  readonly modelsDir: string;
  /** Where single-file checkpoints in modelsDir are converted to (see convert/cache.ts). */
  readonly cacheDir: string;
  readonly cachePrecision: StoragePrecision;
  readonly tiles: TileOptions;
  /** Jobs run at once (each holds the models' sessions busy; 1 suits one GPU or a small CPU). */
  readonly concurrency: number;
  readonly warmup: boolean;
  readonly log: (message: string) => void;
}

/**
 * The native backend: Stable Diffusion ONNX models from MODELS_DIR, run by onnxruntime in this process, on
 * a thread of their own (thread.ts) so that a running job never holds up the API's event loop.
 */
export class OnnxBackend implements Backend {
  readonly name = 'onnx';
  private readonly models = new Map<string, LoadedModel>();
  private readonly failures = new Map<string, string>();
  /** Checkpoints being converted, by model name, with what to tell a caller who asks for one. */
  private readonly pending = new Map<string, string>();
  private readonly listeners: (() => void)[] = [];
  private running = 0;
  private readonly stopping = new AbortController();
  private conversions: Promise<void> = Promise.resolve();
  private readonly decodeTimes = new DecodeTimes();

  private readonly thread: PipelineThread;

  constructor(private readonly options: OnnxBackendOptions, engine: EngineOptions) {
    this.thread = new PipelineThread({ engine, tiles: options.tiles });
  }

  /**
   * Loads every model folder once (sessions created and, unless disabled, warmed), then converts and loads
   * the single-file checkpoints in the background; a bad file or folder is reported, not fatal.
   */
  async start(): Promise<void> {
    let names: string[];
    try {
      names = await findModels(this.options.modelsDir);
    } catch (error) {
      this.failures.set('(MODELS_DIR)', (error as Error).message);
      this.options.log(`onnx: ${(error as Error).message}`);
      return;
    }
    if (names.length === 0 && (await checkpointFiles(this.options.modelsDir)).size === 0) {
      this.failures.set('(MODELS_DIR)', `${this.options.modelsDir}: no models (model folders with a model_index.json, or .safetensors checkpoints)`);
    }
    for (const name of names) await this.load(name, join(this.options.modelsDir, name));
    // Checkpoints convert in the background (minutes for SDXL on first start): the service answers
    // meanwhile, and each model joins when it is ready.
    this.conversions = convertCheckpointsIn(this.options.modelsDir, this.options.cacheDir, {
      taken: new Set(names),
      precision: this.options.cachePrecision,
      log: (line) => this.options.log(`onnx: ${line}`),
      signal: this.stopping.signal,
      events: {
        converting: (name, file) => this.changed(() => this.pending.set(name, `being converted from ${file} (first start only; progress in the log)`)),
        ready: async (name, folder) => {
          this.failures.delete(name);
          await this.load(name, folder);
          this.pending.delete(name);
          this.changed(() => undefined);
        },
        failed: (name, error) => this.changed(() => {
          this.pending.delete(name);
          this.failures.set(name, error);
        }),
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.conversions;
    await this.thread.close();
  }

  /** Loads and checks one model folder, warms it unless disabled; a bad one is recorded, not thrown. */
  private async load(name: string, folder: string): Promise<void> {
    try {
      const facts = await this.thread.load(name, folder, this.options.warmup);
      const model: LoadedModel = { ...facts, family: familyNamed(facts.family), folder };
      this.models.set(name, model);
      const skipped = model.fallbacks.length > 0 ? `; ${model.fallbacks.join('; ')}` : '';
      const remedy = model.vaeDecoderPrecision === 'float16' ? model.family.fp16VaeRemedy : undefined;
      const overflow = remedy ? `; the ${model.family.label} VAE overflows in float16 (decodes fail with inf/NaN): use ${remedy}` : '';
      this.options.log(`onnx: model '${name}' (${model.family.label}, ${model.prediction}-prediction) runs on ${model.provider} (${model.precision}, timestep ${model.timestepType}, vae ${model.vaeEncoderOutput}, VAE decodes in ${model.vaeDecoderPrecision}, VAE scale ${model.vaeScale}${skipped})${overflow}`);
    } catch (error) {
      this.failures.set(name, (error as Error).message);
      this.options.log(`onnx: model '${name}' not loaded: ${(error as Error).message}`);
    }
  }

  get slots(): number {
    return this.options.concurrency;
  }

  capacity(): number {
    return Math.min(this.models.size, this.options.concurrency);
  }

  private changed(update: () => void): void {
    update();
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  snapshot(): BackendSnapshot {
    const busy = this.running >= this.options.concurrency;
    return {
      backend: this.name,
      units: [
        ...[...this.models.values()].map((m) => ({ target: m.name, healthy: true, busy, mode: m.provider })),
        ...[...this.failures, ...this.pending].map(([name, error]) => ({ target: name, healthy: false, busy: false, error })),
      ],
      models: [...this.models.values()].map((m): ModelView => ({
        name: m.name, provider: m.provider, precision: m.precision, timestep_type: m.timestepType,
        vae_encoder_output: m.vaeEncoderOutput, hidden_size: m.hiddenSize ?? null, family: m.family.name, family_label: m.family.label,
        prediction: m.prediction, vae_scale: m.vaeScale, sigma_table: m.family.sigmaTable, max_clip_skip: m.maxClipSkip,
      })),
      modelErrors: [...[...this.failures].map(([name, error]) => ({ name, error })), ...[...this.pending].map(([name, error]) => ({ name, error, pending: true }))],
    };
  }

  /** Every model shares the process's slots; `avoid` cannot help here, a failed onnx job fails. */
  acquire(work: UpscaleWork): Lease | undefined {
    if (this.running >= this.options.concurrency || this.models.size === 0) return undefined;
    const model = this.model(work);
    this.running++;
    return {
      ranOn: `onnx:${model.name} (${model.provider})`,
      run: async (job, onProgress, signal, onStage) => {
        try {
          const image = await decodeImage(job.image);
          const pixels = job.width * job.height;
          const eta = new SamplingEta(this.decodeTimes.estimate(model.name, pixels));
          let etaSeconds: number | undefined;
          const output = await this.thread.run(model.name, model.folder, { ...job, image, sampler: job.sampler.name }, {
            onSampling: () => eta.samplingStarted(),
            onStep: (step, steps) => {
              etaSeconds = eta.afterStep(step, steps);
              onProgress({ progress: step / steps, step, steps, ...(etaSeconds !== undefined ? { etaSeconds } : {}) });
            },
            onPreview: (preview) => onProgress({ progress: preview.step / preview.steps, step: preview.step, steps: preview.steps, ...(etaSeconds !== undefined ? { etaSeconds } : {}), preview }),
            onStage: (stage, seconds) => {
              if (stage === 'decode') this.decodeTimes.record(model.name, pixels, seconds);
              onStage?.(stage, seconds);
            },
          }, signal);
          return { png: await encodeRgbPixelsOffThread(output.width, output.height, output.pixels), seed: job.seed, ranOn: `onnx:${model.name}`, model: model.name };
        } finally {
          this.running--;
          for (const listener of this.listeners) listener();
        }
      },
    };
  }

  private model(work: UpscaleWork): LoadedModel {
    const name = work.model ?? this.models.keys().next().value!;
    const model = this.models.get(name);
    if (model === undefined) throw unknownName('model', name, [...this.models.keys()], 'UNKNOWN_MODEL');
    return model;
  }
}
