import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { missingReference } from './references.js';

/**
 * A python3 that can import the given modules, or the reason there is none. Debian's python3-torch
 * lives in /usr/bin/python3's dist-packages, which a pyenv python3 earlier on PATH does not see.
 */
export function findPython(modules: readonly string[]): { python: string } | { skip: string } {
  const candidates = [process.env['TORCH_PYTHON'], '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
    if (probe.status === 0) return { python };
  }
  return { skip: `no python3 with ${modules.join(' and ')} (apt-get install python3-torch, or set TORCH_PYTHON)` };
}

/**
 * findPython for one subtest's tap `skip` option: the python3 to run, or why there is none (reported as a
 * skip; under CI=true, where every reference is installed, missingReference makes it a failure).
 */
export function pythonWith(modules: readonly string[]): { readonly python: string; readonly skip: false } | { readonly python?: undefined; readonly skip: string } {
  const found = findPython(modules);
  if ('python' in found) return { python: found.python, skip: false };
  return { skip: missingReference(found.skip)! };
}

export function runPythonJson<T>(python: string, script: string, input: unknown): T {
  const path = fileURLToPath(new URL(`../reference/${script}`, import.meta.url));
  const result = spawnSync(python, [path], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${script} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export function toBase64(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function fromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
