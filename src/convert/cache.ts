import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertCheckpoint } from './convert.js';

// Single-file checkpoints dropped straight into MODELS_DIR (an A1111 models/Stable-diffusion folder, say)
// are converted once into MODELS_CACHE_DIR and reused while the file is unchanged: same size, same mtime.

const STAMP_FILE = 'converted-from.json';

/** Default cache: a hidden folder inside MODELS_DIR (the model scan only looks at folders holding model_index.json). */
export const defaultCacheDir = (modelsDir: string): string => join(modelsDir, '.latent-upscale-cache');

export interface CheckpointModels {
  /** Model name (the file name without .safetensors) → converted folder. */
  readonly folders: ReadonlyMap<string, string>;
  /** Model name → why its file could not be converted. */
  readonly failures: ReadonlyMap<string, string>;
}

interface Stamp {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export async function convertCheckpointsIn(modelsDir: string, cacheDir: string, log: (line: string) => void): Promise<CheckpointModels> {
  const folders = new Map<string, string>();
  const failures = new Map<string, string>();
  const files = (await readdir(modelsDir).catch(() => [] as string[])).filter((f) => /\.safetensors$/i.test(f)).sort();
  for (const file of files) {
    const name = file.replace(/\.safetensors$/i, '');
    const source = join(modelsDir, file);
    const folder = join(cacheDir, name);
    try {
      const { size, mtimeMs } = await stat(source);
      const stamp: Stamp = { file, size, mtimeMs };
      const cached = await readFile(join(folder, STAMP_FILE), 'utf8').then((text) => JSON.parse(text) as Stamp, () => undefined);
      if (cached?.size === size && cached.mtimeMs === mtimeMs) {
        folders.set(name, folder);
        continue;
      }
      log(`converting ${file} (${(size / 1e9).toFixed(2)} GB) into ${folder}; this happens once per file`);
      await rm(folder, { recursive: true, force: true });
      await convertCheckpoint(source, folder, { log: (line) => log(`  ${line}`) });
      await writeFile(join(folder, STAMP_FILE), `${JSON.stringify(stamp)}\n`);
      folders.set(name, folder);
    } catch (error) {
      failures.set(name, (error as Error).message);
      log(`${file} not converted: ${(error as Error).message}`);
    }
  }
  return { folders, failures };
}
