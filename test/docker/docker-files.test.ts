import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/cli/run.js';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config.js';

// No Docker engine runs on these machines, so the Docker files are checked as text: every path they copy
// exists, every variable they set is one the service reads (and is valid), the commands exist, the
// health check and ports match the service, and the images run as a non-root user.
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(`${root}${path}`, 'utf8');

interface Instruction { keyword: string; args: string }

function instructions(dockerfile: string): Instruction[] {
  const joined = dockerfile.replace(/\\\n\s*/g, ' ');
  return joined.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#')).map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
}

function envOf(list: Instruction[]): Record<string, string> {
  return Object.fromEntries(list.filter((i) => i.keyword === 'ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
}

for (const file of ['docker/Dockerfile', 'docker/Dockerfile.cuda']) {
  t.test(`${file}: multi-stage, copies what exists, non-root, health check on /healthz`, async (t) => {
    const list = instructions(read(file));
    t.ok(list.filter((i) => i.keyword === 'FROM').length >= 2, 'multi-stage');
    for (const copy of list.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) t.ok(existsSync(`${root}${source}`), `${source} exists`);
    }
    const user = list.filter((i) => i.keyword === 'USER').pop();
    t.ok(user && user.args !== 'root' && user.args !== '0', `runs as ${user?.args}`);
    t.match(list.find((i) => i.keyword === 'HEALTHCHECK')?.args, /\/healthz/);
    t.equal(list.find((i) => i.keyword === 'EXPOSE')?.args, String(loadConfig({ PORT: envOf(list)['PORT'] ?? '' }).port));
    t.match(list.find((i) => i.keyword === 'VOLUME')?.args, /\/models/);
    t.same(JSON.parse(list.find((i) => i.keyword === 'CMD')!.args), ['node', 'dist/server.js']);
    for (const name of Object.keys(envOf(list)).filter((n) => n !== 'NODE_ENV' && n !== 'ONNXRUNTIME_NODE_INSTALL')) {
      t.ok(ENVIRONMENT_VARIABLES.includes(name), `${name} is a service variable`);
    }
    t.doesNotThrow(() => loadConfig(envOf(list)), 'its environment is a valid configuration');
  });
}

t.test('Dockerfile.cuda opts in to the CUDA provider', async (t) => {
  const list = instructions(read('docker/Dockerfile.cuda'));
  const env = envOf(list);
  t.equal(env['ONNXRUNTIME_NODE_INSTALL'], 'cuda12');
  t.equal(env['EXECUTION_PROVIDERS'], 'cuda,cpu');
  t.match(list.filter((i) => i.keyword === 'FROM').pop()?.args, /^nvidia\/cuda:12/);
});

t.test('compose.yaml: Redis, the API node, workers and an A1111 example, all consistent with the service', async (t) => {
  const compose = parse(read('docker/compose.yaml')) as { services: Record<string, { build?: { context: string; dockerfile: string }; command?: string[]; environment?: Record<string, string>; ports?: string[]; volumes?: string[]; profiles?: string[] }> };
  const services = compose.services;
  t.same(Object.keys(services).sort(), ['a1111', 'a1111-worker', 'api', 'redis', 'worker']);
  const resolve = (value: string): string => value.replace(/\$\{(\w+):-([^}]*)\}/g, (_m, _name, fallback: string) => fallback);
  for (const [name, service] of Object.entries(services)) {
    if (service.build) t.ok(existsSync(`${root}docker/${service.build.context}/${service.build.dockerfile}`), `${name}: its Dockerfile exists`);
    if (service.command?.[0] === 'node') {
      t.equal(service.command[1], 'dist/cli/main.js', `${name}: runs the CLI`);
      t.ok(COMMANDS.some((c) => c.name === service.command![2]), `${name}: '${service.command[2]}' is a CLI command`);
    }
    if (service.build && service.environment) {
      const env = Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, resolve(String(v))]));
      for (const variable of Object.keys(env)) t.ok(ENVIRONMENT_VARIABLES.includes(variable), `${name}: ${variable} is a service variable`);
      t.doesNotThrow(() => loadConfig(env), `${name}: a valid configuration`);
      t.match(env['REDIS_URL'], /^redis:\/\/redis:6379$/, `${name}: talks to the redis service`);
    }
    for (const volume of service.volumes ?? []) {
      const [source] = volume.split(':');
      if (source!.startsWith('../a1111-extension')) t.ok(existsSync(`${root}a1111-extension/scripts/latent_upscale_companion.py`), 'the companion extension is mounted from the repo');
    }
  }
  t.same(services['api']!.ports, [`${loadConfig({}).port}:${services['api']!.environment!['PORT']}`]);
  t.same(services['a1111']!.profiles, ['a1111']);
});
