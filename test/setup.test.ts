import { fileURLToPath } from 'node:url';
import t from 'tap';
import { launch, stopProcess } from './helpers/processes.js';

// A single-node service (no REDIS_URL) must not load bullmq or ioredis (src/setup.ts): ~5 MB of heap that
// every full collection would mark again. The service is started with a module hook that refuses both
// packages, so loading either ends the process with the hook's message. The hook sees ESM imports up to
// "Server listening", which is how src loads them; a CommonJS require of either would pass unseen.

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const REFUSING_HOOK = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (/\\/node_modules\\/(bullmq|ioredis)\\//.test(resolved.url)) throw new Error('refused to load ' + resolved.url);
  return resolved;
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(REFUSING_HOOK)}`)});`;

/** This test's environment less what would change the service's role or its backends. */
const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !['REDIS_URL', 'BACKENDS', 'API_KEYS', 'MODELS_DIR'].includes(name)));

function startRefusingRedisModules(env: Record<string, string>) {
  return launch('service', process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--import', 'tsx', SERVER],
    /Server listening at http|refused to load \S+/, 30_000, { ...inherited, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', A1111_URLS: 'http://127.0.0.1:9', ...env });
}

t.test('without REDIS_URL the service serves without loading bullmq or ioredis', async (t) => {
  const service = await startRefusingRedisModules({});
  t.match(service.ready[0], /^Server listening/, service.output());
  t.equal((await stopProcess(service)).code, 0);
});

t.test('with REDIS_URL the hook does catch the Redis modules being loaded', async (t) => {
  // Nothing listens at port 9: the point is only that the Redis path imports them, so the test above can fail.
  const service = await startRefusingRedisModules({ REDIS_URL: 'redis://127.0.0.1:9' });
  t.match(service.ready[0], /^refused to load \S+\/node_modules\/(bullmq|ioredis)\//);
  await stopProcess(service, 'SIGKILL');
});
