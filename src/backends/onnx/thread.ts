import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BackendError, errorFor } from '../../errors.js';
import type { RgbImage } from '../../images/decode.js';
import type { Img2imgHooks, Img2imgRequest } from '../../pipeline/img2img.js';
import type { PreviewImage } from '../backend.js';
import { CLOSED_MESSAGE, type ModelFacts, type ThreadError, type ThreadOptions, type ThreadReply, type ThreadRequest } from './thread-protocol.js';

// The main thread's side of the pipeline thread (pipeline-thread.ts): requests go over as messages, the
// hooks and the result come back. A thread that dies (a native crash, out of memory) fails the jobs it
// held with a reason, and the next request starts a fresh one, which loads its models again on demand.

// The entry beside this file: .ts when run from source (tsx, tap), .js once built.
const ENTRY = new URL(`./pipeline-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

function startThread(options: ThreadOptions): Worker {
  if (!ENTRY.pathname.endsWith('.ts')) return new Worker(ENTRY, { workerData: options });
  // From source, the thread registers tsx's loader itself: on Node 20 the `--import tsx` hooks of the
  // main thread do not reach worker threads (the .ts entry fails with "Unknown file extension").
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

/**
 * How long close waits for the thread to end by itself (its current native call, a model load) before
 * terminating it, which inside a native call can abort the process (see pipeline-thread.ts close).
 */
const CLOSE_GRACE_MS = 30_000;

/** The pipeline's hooks as they reach this thread: previews arrive encoded. */
export type ThreadHooks = Omit<Img2imgHooks, 'onPreview'> & { readonly onPreview?: (preview: PreviewImage) => void };

interface Pending {
  readonly resolve: (reply: ThreadReply) => void;
  readonly reject: (error: Error) => void;
  readonly hooks: ThreadHooks;
}

export class PipelineThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Set from close() until the thread has exited: nothing new is sent to a thread on its way out. */
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ThreadOptions) {}

  /** Loads (and warms) a model folder in the thread; what it found, or the reason it cannot be used. */
  async load(name: string, folder: string, warm: boolean): Promise<ModelFacts> {
    const reply = await this.send((id) => ({ kind: 'load', id, name, folder, warm }), {});
    if (reply.kind !== 'loaded') throw new Error(`pipeline thread: unexpected ${reply.kind} to load`);
    return reply.model;
  }

  /**
   * Runs img2img in the thread; an abort stops it after the model load, a stage or a step, and rejects with
   * the signal's reason (also when the thread had finished before the cancel reached it).
   */
  async run(name: string, folder: string, request: Img2imgRequest, hooks: ThreadHooks, signal: AbortSignal): Promise<RgbImage> {
    signal.throwIfAborted();
    let sent = 0;
    const cancel = (): void => this.worker?.postMessage({ kind: 'cancel', id: sent } satisfies ThreadRequest);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      // The input's pixels are copied (a decoder's buffer may share its ArrayBuffer); the result moves back.
      const reply = await this.send((id) => ((sent = id), { kind: 'run', id, name, folder, request }), hooks);
      if (reply.kind !== 'done') throw new Error(`pipeline thread: unexpected ${reply.kind} to run`);
      signal.throwIfAborted();
      return reply.output;
    } catch (error) {
      throw signal.aborted ? signal.reason : error;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  /** Ends the thread once its current native call returns; runs still in it fail with a reason, loads finish first. */
  close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      const deadline = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
      worker.once('exit', () => {
        clearTimeout(deadline);
        this.closing = undefined;
        resolve();
      });
      worker.postMessage({ kind: 'close' } satisfies ThreadRequest);
    });
    return this.closing;
  }

  private send(message: (id: number) => ThreadRequest, hooks: ThreadHooks, transfer: ArrayBuffer[] = []): Promise<ThreadReply> {
    if (this.closing !== undefined) return Promise.reject(new BackendError(CLOSED_MESSAGE, 'BACKEND_UNAVAILABLE'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const worker = this.thread();
      this.pending.set(id, { resolve, reject, hooks });
      worker.ref();
      try {
        worker.postMessage(message(id), transfer);
      } catch (error) {
        this.settle(id);
        reject(error as Error);
      }
    });
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = startThread(this.options);
    let crash: Error | undefined;
    worker.on('message', (reply: ThreadReply) => this.receive(reply));
    worker.on('error', (error) => (crash = error));
    // A reply that cannot be read would leave its job waiting for ever: end the thread, which fails them all.
    worker.on('messageerror', (error) => {
      crash = error;
      void worker.terminate();
    });
    worker.on('exit', (code) => {
      this.worker = undefined;
      const why = crash ? `: ${crash.message}` : ` (exit code ${code})`;
      for (const [id, pending] of this.pending) {
        this.pending.delete(id);
        pending.reject(new BackendError(`the onnx pipeline thread stopped${why}; the job did not finish (submit it again)`, 'BACKEND_UNAVAILABLE'));
      }
    });
    this.worker = worker;
    return worker;
  }

  private receive(reply: ThreadReply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    switch (reply.kind) {
      case 'sampling': return pending.hooks.onSampling?.();
      case 'step': return void pending.hooks.onStep?.(reply.step, reply.steps);
      case 'stage': return pending.hooks.onStage?.(reply.stage, reply.seconds);
      case 'preview': return pending.hooks.onPreview?.(reply.preview);
      case 'failed':
        this.settle(reply.id);
        return pending.reject(threadError(reply.error));
      default:
        this.settle(reply.id);
        return pending.resolve(reply);
    }
  }

  /** An idle thread does not keep the process alive; one with work does. */
  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }
}

/** The thread's error as the same kind of error here: a service error keeps its code; anything else is a bug with its stack. */
function threadError(error: ThreadError): Error {
  const rebuilt = error.code === undefined ? new Error(error.message) : errorFor(error.code, error.message);
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}
