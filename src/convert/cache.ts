import { existsSync } from 'node:fs';
import { access, constants, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONVERTER_VERSION, convertCheckpoint } from './convert.js';
import type { StoragePrecision } from './weights.js';

// Single-file checkpoints dropped straight into MODELS_DIR (an A1111 models/Stable-diffusion folder, say)
// are converted once into MODELS_CACHE_DIR and reused while nothing that went into the conversion changed.

const STAMP_FILE = 'converted-from.json';
const CHECKPOINT = /\.safetensors$/i;

/** Default cache: a hidden folder inside MODELS_DIR (the model scan only looks at folders holding model_index.json). */
export const defaultCacheDir = (modelsDir: string): string => join(modelsDir, '.latent-upscale-cache');

/** What a conversion depends on: the file, the A1111-style .yaml beside it (it may say v-prediction), the converter. */
interface Stamp {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly yaml: { readonly size: number; readonly mtimeMs: number } | null;
  readonly converter: number;
  readonly precision: StoragePrecision;
}

export interface CheckpointEvents {
  /** A conversion starts (the model is not usable until `ready`). */
  readonly converting: (name: string, file: string) => void;
  readonly ready: (name: string, folder: string) => Promise<void> | void;
  readonly failed: (name: string, error: string) => void;
}

export interface CacheOptions {
  /** Model names already taken by model folders: their checkpoints are not converted. */
  readonly taken: ReadonlySet<string>;
  readonly precision: StoragePrecision;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
  readonly events: CheckpointEvents;
}

/** The `*.safetensors` directly in `modelsDir`, by model name (the file name without the extension). */
export async function checkpointFiles(modelsDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const file of (await readdir(modelsDir).catch(() => [] as string[])).filter((f) => CHECKPOINT.test(f)).sort()) {
    files.set(file.replace(CHECKPOINT, ''), file);
  }
  return files;
}

export async function convertCheckpointsIn(modelsDir: string, cacheDir: string, options: CacheOptions): Promise<void> {
  const { events, log } = options;
  const files = [...(await checkpointFiles(modelsDir))].filter(([name, file]) => {
    if (options.taken.has(name)) log(`${file} is not used: the model folder ${name}/ has the same name`);
    return !options.taken.has(name);
  });
  if (files.length === 0) return;
  const unwritable = await mkdir(cacheDir, { recursive: true }).then(() => access(cacheDir, constants.W_OK)).then(() => undefined, (error: NodeJS.ErrnoException) => error.code ?? error.message);
  for (const [name, file] of files) {
    if (unwritable !== undefined) {
      events.failed(name, `${file} cannot be converted: MODELS_CACHE_DIR ${cacheDir} is not writable (${unwritable}); set MODELS_CACHE_DIR to a writable folder`);
      continue;
    }
    const source = join(modelsDir, file);
    const folder = join(cacheDir, name);
    try {
      const stamp = await stampOf(source, file, options.precision);
      const cached = await readFile(join(folder, STAMP_FILE), 'utf8').then((text) => text.trim(), () => undefined);
      if (cached !== JSON.stringify(stamp) || !existsSync(folder)) {
        options.signal?.throwIfAborted();
        events.converting(name, file);
        log(`converting ${file} (${(stamp.size / 1e9).toFixed(2)} GB) into ${folder}; this happens once per file`);
        await convertCheckpoint(source, folder, { replace: true, precision: options.precision, log: (line) => log(`  ${line}`), ...(options.signal ? { signal: options.signal } : {}) });
        await writeFile(join(folder, STAMP_FILE), `${JSON.stringify(stamp)}\n`);
      }
      await events.ready(name, folder);
    } catch (error) {
      if (options.signal?.aborted) return;
      events.failed(name, (error as Error).message);
      log(`${file} not converted: ${(error as Error).message}`);
    }
  }
}

async function stampOf(source: string, file: string, precision: StoragePrecision): Promise<Stamp> {
  const { size, mtimeMs } = await stat(source);
  const yaml = await stat(source.replace(CHECKPOINT, '.yaml')).then((s) => ({ size: s.size, mtimeMs: s.mtimeMs }), () => null);
  return { file, size, mtimeMs, yaml, converter: CONVERTER_VERSION, precision };
}
