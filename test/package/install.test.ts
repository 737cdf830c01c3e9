import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import t from 'tap';

// The install must be clean on the oldest Node the package states: no package that asks for a newer
// one (npm's EBADENGINE), and no npm configuration npm does not know (its "Unknown project config").
const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(`${root}${path}`, 'utf8')) as Record<string, unknown>;

t.test('every locked package runs on the oldest Node that package.json states', async (t) => {
  const stated = (readJson('package.json')['engines'] as { node: string }).node;
  const oldest = semver.minVersion(stated)!.version;
  const packages = readJson('package-lock.json')['packages'] as Record<string, { engines?: { node?: string } | string[] }>;
  const refusing = Object.entries(packages)
    .filter(([, info]) => typeof info.engines === 'object' && !Array.isArray(info.engines) && info.engines.node !== undefined)
    .filter(([, info]) => !semver.satisfies(oldest, (info.engines as { node: string }).node))
    .map(([path, info]) => `${path} wants node ${(info.engines as { node: string }).node}`);
  t.same(refusing, [], `all run on Node ${oldest}`);
});

t.test('npm reads the project configuration without a warning, and install scripts stay off', async (t) => {
  const run = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { cwd: root, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: '' } });
  t.equal(run.status, 0);
  t.equal(run.stdout.trim(), 'true', 'onnxruntime-node\'s CUDA download never runs on npm ci');
  t.equal(run.stderr.trim(), '', 'no warning');
});
