import { parentPort, workerData } from 'node:worker_threads';
import { SessionPool } from '../../engine/session-pool.js';
import { BackendError, isServiceError } from '../../errors.js';
import { encodePreview, PREVIEW_MIME } from '../../images/encode.js';
import { loadModel, type StableDiffusionModel } from '../../models/loader.js';
import { runImg2img } from '../../pipeline/img2img.js';
import { CLOSED_MESSAGE, type ModelFacts, type ThreadOptions, type ThreadReply, type ThreadRequest } from './thread-protocol.js';

// The onnx pipeline's thread: it owns the models' onnxruntime sessions and runs whole jobs, so the
// element-wise work between onnxruntime calls (colour conversion, CFG, noise, tiling) never holds up the
// API's event loop. Started by thread.ts; one per process.

const options = workerData as ThreadOptions;
const engine = new SessionPool(options.engine);
const models = new Map<string, Promise<StableDiffusionModel>>();
const running = new Map<number, AbortController>();
/** Every request being handled, so that closing can wait for them. */
const handling = new Set<Promise<void>>();
const port = parentPort!;
const reply = (message: ThreadReply, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

/** A model folder's sessions, loaded once (again after a failed load). */
function model(name: string, folder: string): Promise<StableDiffusionModel> {
  let loaded = models.get(folder);
  if (loaded === undefined) {
    loaded = loadModel(folder, name, engine);
    loaded.catch(() => models.delete(folder));
    models.set(folder, loaded);
  }
  return loaded;
}

/** One tiny run through every session so the first real job does not pay for lazy initialisation. */
async function warm(loaded: StableDiffusionModel): Promise<void> {
  await runImg2img(loaded, engine, {
    image: { width: 64, height: 64, pixels: new Uint8Array(64 * 64 * 3).fill(128) }, width: 64, height: 64, method: 'bilinear', scheduler: 'karras', steps: 1,
    denoise: 1, fixSteps: true, sampler: 'euler', cfgScale: 1, seed: 0, prompt: '', negativePrompt: '', clipSkip: 1,
  }, options.tiles);
}

/** The model less what cannot cross to the main thread (sessions), its family by name. */
function facts(loaded: StableDiffusionModel): ModelFacts {
  const kept = Object.entries(loaded).filter(([key]) => key !== 'sessions' && key !== 'textEncoders');
  return { ...(Object.fromEntries(kept) as Omit<StableDiffusionModel, 'sessions' | 'textEncoders'>), family: loaded.family.name };
}

async function handle(message: Exclude<ThreadRequest, { kind: 'close' }>): Promise<void> {
  if (message.kind === 'cancel') return void running.get(message.id)?.abort();
  const { id } = message;
  try {
    if (message.kind === 'load') {
      const loaded = await model(message.name, message.folder);
      if (message.warm) await warm(loaded);
      return reply({ kind: 'loaded', id, model: facts(loaded) });
    }
    const cancel = new AbortController();
    running.set(id, cancel);
    const loaded = await model(message.name, message.folder);
    // A cancel also takes effect after the model load and after each stage, not only between steps.
    cancel.signal.throwIfAborted();
    const output = await runImg2img(loaded, engine, message.request, options.tiles, {
      onSampling: () => reply({ kind: 'sampling', id }),
      onStep: (step, steps) => {
        cancel.signal.throwIfAborted();
        reply({ kind: 'step', id, step, steps });
      },
      onStage: (stage, seconds) => {
        cancel.signal.throwIfAborted();
        reply({ kind: 'stage', id, stage, seconds });
      },
      // Encoded here too, so that the main thread only passes the bytes on.
      onPreview: async (step, steps, image) => {
        const bytes = await encodePreview(image.width, image.height, image.pixels);
        // Copied, not transferred: sharp's output may share its ArrayBuffer with other buffers.
        reply({ kind: 'preview', id, preview: { step, steps, mime: PREVIEW_MIME, bytes } });
      },
    });
    // toRgb's pixels own their ArrayBuffer, so it can move to the main thread without a copy.
    reply({ kind: 'done', id, output }, [output.pixels.buffer as ArrayBuffer]);
  } catch (error) {
    const thrown = error as Error;
    reply({ kind: 'failed', id, error: { message: thrown.message, ...(isServiceError(thrown) ? { code: thrown.code } : {}), ...(thrown.stack ? { stack: thrown.stack } : {}) } });
  } finally {
    running.delete(id);
  }
}

/**
 * Ends the thread between native calls. A worker terminated inside one (a UNet step, a session's creation)
 * can abort the whole process: the addon's call returns into a terminating isolate and its Napi::Error ends
 * in std::terminate. So runs are cancelled and reach their next check, loads finish, the sessions are
 * released, and the closed port lets the thread exit by itself.
 */
async function close(): Promise<void> {
  const reason = new BackendError(CLOSED_MESSAGE, 'BACKEND_UNAVAILABLE');
  for (const cancel of running.values()) cancel.abort(reason);
  await Promise.allSettled(handling);
  // A session that will not release goes with the thread anyway.
  await engine.release().catch(() => undefined);
  port.close();
}

port.on('message', (message: ThreadRequest) => {
  if (message.kind === 'close') return void close();
  const handled = handle(message);
  handling.add(handled);
  void handled.finally(() => handling.delete(handled));
});
