import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { latent } from '../../src/latent/tensor.js';
import { findPython } from '../helpers/python.js';
import { skipFileWithout } from '../helpers/references.js';
import { temporaryFolder } from '../helpers/temporary.js';

// .npy files written by numpy itself load here, and numpy loads ours bit for bit.
const python = findPython(['numpy']);
const script = fileURLToPath(new URL('../reference/numpy_roundtrip.py', import.meta.url));
const expected = Float32Array.from({ length: 120 }, (_, i) => i / 8 - 7);

if (!skipFileWithout(t, 'skip' in python ? python.skip : undefined) && 'python' in python) {
  const dir = await temporaryFolder(t, 'npy-interop');
  const run = (mode: string): string => {
    const result = spawnSync(python.python, [script, mode, dir], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(result.stderr);
    return result.stdout;
  };
  run('write');

  t.test('numpy float32 and float16 files load with their values', async (t) => {
    for (const name of ['numpy-f4.npy', 'numpy-f2.npy']) {
      const { latent: value } = decodeNpy(await readFile(join(dir, name)), name);
      t.same(value.shape, [2, 4, 3, 5], name);
      t.same(Array.from(value.data), Array.from(expected), name);
    }
  });

  t.test('float64 and Fortran-order files from numpy are refused by name', async (t) => {
    t.throws(() => decodeNpy(readFileSync(join(dir, 'numpy-f8.npy'))), { message: /dtype '<f8' is not supported/ });
    t.throws(() => decodeNpy(readFileSync(join(dir, 'numpy-fortran.npy'))), { message: /Fortran-ordered/ });
  });

  t.test('numpy loads what we write, float32 and float16', async (t) => {
    const value = latent([2, 4, 3, 5], expected);
    await writeFile(join(dir, 'ours-f4.npy'), encodeNpy(value, 'float32'));
    await writeFile(join(dir, 'ours-f2.npy'), encodeNpy(value, 'float16'));
    t.same(JSON.parse(run('check')), { f4: true, f2: true });
  });
}

