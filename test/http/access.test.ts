import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { captureLog } from '../helpers/log.js';
import { pngBase64 } from '../helpers/service.js';

t.test('API keys: bearer token required except on probes; rate limit per key; CORS as configured', async (t) => {
  const fake = await new FakeA1111({ companion: true }).start();
  t.teardown(() => fake.stop());
  const app = await buildApp(loadConfig({
    A1111_URLS: fake.url, LOG_LEVEL: 'silent', API_KEYS: 'key-one,key-two', RATE_LIMIT_PER_MINUTE: '3', CORS_ORIGINS: 'https://app.example',
  }), { logger: false });
  await app.ready();
  t.teardown(() => app.close());

  const missing = await app.inject({ url: '/methods' });
  t.equal(missing.statusCode, 401);
  t.equal(missing.headers['www-authenticate'], 'Bearer');
  t.match(missing.json().message, /an API key is required: send Authorization: Bearer <key>/);
  t.equal((await app.inject({ url: '/methods', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'probes stay open');
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);

  const one = { authorization: 'Bearer key-one' };
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/methods', headers: one })).statusCode, 200);
  const limited = await app.inject({ url: '/methods', headers: one });
  t.equal(limited.statusCode, 429);
  t.match(limited.json().message, /rate limit: 3 requests per minute per key/);
  t.equal((await app.inject({ url: '/methods', headers: { authorization: 'Bearer key-two' } })).statusCode, 200, 'another key has its own budget');

  const preflight = await app.inject({ method: 'OPTIONS', url: '/upscale', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
  const foreign = await app.inject({ url: '/healthz', headers: { origin: 'https://evil.example' } });
  t.notOk(foreign.headers['access-control-allow-origin']);
});

t.test('keys and A1111 credentials never appear in the log, even at trace level', async (t) => {
  const fake = await new FakeA1111({ companion: true, auth: { username: 'svc', password: 'a1111-secret-pw' } }).start();
  t.teardown(() => fake.stop());
  const log = captureLog();
  const config = loadConfig({ A1111_URLS: fake.url.replace('http://', 'http://svc:a1111-secret-pw@'), API_KEYS: 'api-secret-key', LOG_LEVEL: 'trace' });
  const app = await buildApp(config, { logStream: log.stream });
  await app.ready();
  t.teardown(() => app.close());
  const response = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() }, headers: { authorization: 'Bearer api-secret-key' } });
  t.equal(response.statusCode, 200, response.body);
  app.log.info({ config }, 'configuration');
  app.log.info({ req: { headers: { authorization: 'Bearer api-secret-key' } } }, 'a request with headers');
  const text = log.text();
  t.ok(text.length > 0, 'something was logged');
  t.notMatch(text, /api-secret-key/);
  t.notMatch(text, /a1111-secret-pw/);
  t.match(text, /\[redacted\]/);
});
