import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { findPython } from '../helpers/python.js';
import { skipFileWithout } from '../helpers/references.js';

// The A1111 companion extension's own unittest suite (a1111-extension/tests), run with a python3 that has torch.
const python = findPython(['torch']);
if (!skipFileWithout(t, 'skip' in python ? python.skip : undefined) && 'python' in python) {
  const root = fileURLToPath(new URL('../../a1111-extension/', import.meta.url));
  const result = spawnSync(python.python, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], { cwd: root, encoding: 'utf8' });
  const summary = /Ran (\d+) tests?/.exec(result.stderr);
  t.equal(result.status, 0, result.stderr.split('\n').slice(-25).join('\n'));
  t.ok(Number(summary?.[1]) >= 12, `ran ${summary?.[1]} companion tests`);
  t.notMatch(result.stderr, /skipped/, 'none skipped where torch is present');
}
