import type { Config } from '../config.js';
import type { SessionPool } from '../engine/session-pool.js';
import { defaultCacheDir } from '../convert/cache.js';
import { A1111Backend } from './a1111/backend.js';
import type { Backend } from './backend.js';
import { OnnxBackend } from './onnx/backend.js';

/** The configured backends in preference order. */
export function createBackends(config: Config, engine: SessionPool, log: (message: string) => void): Map<string, Backend> {
  return new Map(config.backends.map((name): [string, Backend] => [name, name === 'a1111'
    ? new A1111Backend(config, undefined, log)
    : new OnnxBackend({
      modelsDir: config.modelsDir!,
      cacheDir: config.modelsCacheDir ?? defaultCacheDir(config.modelsDir!),
      cachePrecision: config.modelsCachePrecision,
      tiles: { tile: config.vaeTileSize, overlap: config.vaeTileOverlap },
      concurrency: config.onnxConcurrency,
      warmup: config.onnxWarmup,
      log,
    }, engine.options)]));
}

