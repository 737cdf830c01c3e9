import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/**
 * A fresh folder under the system's temporary directory, removed when `t` ends: test models and
 * converted checkpoints run to a gigabyte a suite, and a machine that runs it again and again keeps none.
 */
export async function temporaryFolder(t: Test, name: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `latent-upscale-${name}-`));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}
