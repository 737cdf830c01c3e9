import ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import type { GraphSpec } from './onnx/model.js';
import { encodeModel } from './onnx/model.js';

export type ExecutionProvider = 'cuda' | 'cpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cuda', 'cpu'];

export interface EngineOptions {
  /** Tried in order; the first that creates a session runs it (e.g. ['cuda', 'cpu']). */
  readonly providers: readonly ExecutionProvider[];
  /** Threads for one op; 0 lets onnxruntime choose (one per core). */
  readonly intraOpThreads: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = { providers: ['cpu'], intraOpThreads: 0 };

export function parseProviders(text: string): ExecutionProvider[] {
  const providers = text.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0);
  for (const p of providers) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(p)) {
      throw new UserError(`unknown execution provider '${p}' (allowed: ${EXECUTION_PROVIDERS.join(', ')})`, 'INVALID_ARGUMENT');
    }
  }
  if (providers.length === 0) throw new UserError(`execution providers must name at least one of: ${EXECUTION_PROVIDERS.join(', ')}`, 'INVALID_ARGUMENT');
  return providers as ExecutionProvider[];
}

export interface LoadedSession {
  readonly session: ort.InferenceSession;
  /** The provider that actually runs it, after any fallback. */
  readonly provider: ExecutionProvider;
  /** Why preferred providers were skipped, for the caller to log. */
  readonly fallbacks: readonly string[];
}

/** One onnxruntime session per graph, created on first use and shared from then on. */
export class SessionPool {
  private readonly sessions = new Map<string, Promise<LoadedSession>>();

  constructor(readonly options: EngineOptions = DEFAULT_ENGINE_OPTIONS) {}

  /** A session for a graph built in code, or for a model file on disk (external weights beside it are found). */
  get(key: string, source: (() => GraphSpec) | string): Promise<LoadedSession> {
    let loaded = this.sessions.get(key);
    if (loaded === undefined) {
      loaded = this.create(typeof source === 'string' ? source : encodeModel(source()));
      loaded.catch(() => this.sessions.delete(key));
      this.sessions.set(key, loaded);
    }
    return loaded;
  }

  /** Releases every session, waiting for those still being created (one whose creation failed has nothing to release). */
  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.then(({ session }) => session.release(), () => undefined)));
  }

  private async create(model: Uint8Array | string): Promise<LoadedSession> {
    const fallbacks: string[] = [];
    for (const provider of this.options.providers) {
      try {
        const options: ort.InferenceSession.SessionOptions = {
          executionProviders: [provider],
          intraOpNumThreads: this.options.intraOpThreads,
          graphOptimizationLevel: 'all',
        };
        const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
        return { session, provider, fallbacks };
      } catch (error) {
        fallbacks.push(`${provider} unavailable: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    throw new Error(`no execution provider could run the graph (${fallbacks.join('; ')})`);
  }
}
