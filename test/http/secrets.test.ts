import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { withoutQuerySecrets } from '../../src/redaction.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { startServiceProcess } from '../helpers/processes.js';
import { pngBase64, until } from '../helpers/service.js';
import { temporaryFolder } from '../helpers/temporary.js';

// What the service prints, read where an operator reads it: the real process's stdout and stderr, with
// the logger configured as the service configures it.

const PASSWORD = 'a1111-secret-pw';
const API_KEY = 'api-secret-key';

t.test('query-string secrets are found however the name is written; other parameters and the path stay', async (t) => {
  t.equal(withoutQuerySecrets('/jobs/1?Token=a&API%5FKEY=b&access_token&scale=2#password=frag'), '/jobs/1?Token=[redacted]&API%5FKEY=[redacted]&access_token=[redacted]&scale=2#password=frag');
  t.equal(withoutQuerySecrets('/sigmas?steps=20&password=p%ZZ&key=k'), '/sigmas?steps=20&password=[redacted]&key=[redacted]', 'a malformed escape is no hiding place');
  t.equal(withoutQuerySecrets('/healthz'), '/healthz');
});

t.test('a configuration error quotes A1111_URLS without its credentials', async (t) => {
  t.throws(() => loadConfig({ A1111_URLS: `http://svc:${PASSWORD}@host:port` }), { message: /A1111_URLS: 'http:\/\/\[redacted\]@host:port' is not a URL/ });
  t.throws(() => loadConfig({ A1111_URLS: `ftp://svc:${PASSWORD}@host` }), { message: /A1111_URLS: 'ftp:\/\/\[redacted\]@host' must be http or https/ });
  t.throws(() => loadConfig({ A1111_URLS: `svc:${PASSWORD}@host:7860` }), { message: /A1111_URLS: '\[redacted\]@host:7860' must be http or https/ }, 'no scheme: "svc:" reads as one');
  const refused = await startServiceProcess({ A1111_URLS: `http://svc:${PASSWORD}@host:port` }).then(() => undefined, (error: Error) => error);
  t.match(refused?.message, /exited \(2\) before it was ready:\nlatent-upscale: invalid configuration: A1111_URLS: 'http:\/\/\[redacted\]@host:port' is not a URL/);
  t.notMatch(refused?.message, PASSWORD);
});

t.test('the running service prints no key, password or query-string secret, and shows A1111 URLs without credentials', async (t) => {
  const fake = await new FakeA1111({ companion: true, auth: { username: 'svc', password: PASSWORD } }).start();
  t.teardown(() => fake.stop());
  const host = `127.0.0.1:${new URL(fake.url).port}`;
  // The second instance is down (nothing on port 9), so its error is in /readyz too.
  const service = await startServiceProcess({
    A1111_URLS: `http://svc:${PASSWORD}@${host},http://svc:${PASSWORD}@127.0.0.1:9`, API_KEYS: API_KEY, HEALTH_CHECK_INTERVAL_SECONDS: '0.2', PROGRESS_INTERVAL_MS: '50',
  });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : service.stop()));
  const call = async (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${service.url}${path}`, { ...init, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers } });

  t.equal((await fetch(`${service.url}/healthz?api_key=query-secret-1&keep=visible`)).status, 200);
  let readiness: { backends: { a1111: { units: { target: string; error?: string }[] } } } | undefined;
  await until(async () => {
    readiness = await (await call('/readyz?token=query-secret-2')).json() as typeof readiness;
    return readiness!.backends.a1111.units.every((unit) => unit.target === `http://${host}` || unit.error !== undefined);
  }, 20_000);
  t.same(readiness!.backends.a1111.units.map((unit) => unit.target), [`http://${host}`, 'http://127.0.0.1:9'], '/readyz: the targets without credentials');
  t.match(readiness!.backends.a1111.units[1]!.error, /A1111 at http:\/\/127\.0\.0\.1:9 /, 'and the error names the instance the same way');

  const created = await call('/jobs?access_token=query-secret-3', { method: 'POST', body: JSON.stringify({ image: pngBase64(), steps: 4 }) });
  t.equal(created.status, 202);
  const { id } = await created.json() as { id: string };
  let job: { state: string; ran_on: string | null } | undefined;
  await until(async () => {
    job = await (await call(`/jobs/${id}?password=query-secret-4`)).json() as typeof job;
    return job!.state === 'succeeded';
  }, 20_000);
  t.equal(job!.ran_on, `http://${host}`, 'ran_on without credentials (the job did authenticate: it succeeded)');
  const missing = await call('/nowhere?key=query-secret-5');
  t.match(await missing.json(), { code: 'NOT_FOUND', message: 'no route GET /nowhere (see GET /docs)' });

  await service.stop();
  stopped = true;
  const output = service.output();
  t.match(output, `A1111 instances: http://${host}, http://127.0.0.1:9`, 'the start log lists the instances without credentials');
  t.match(output, '"url":"/healthz?api_key=[redacted]&keep=visible"', 'a query-string secret is censored in the logged URL, the rest kept');
  t.match(output, '"url":"/jobs?access_token=[redacted]"');
  for (const secret of [API_KEY, PASSWORD, 'query-secret-1', 'query-secret-2', 'query-secret-3', 'query-secret-4', 'query-secret-5']) {
    t.notMatch(output, secret, `${secret} is nowhere in the output`);
  }
});

t.test('an onnx-only service names no A1111 at start and censors query-string secrets too', async (t) => {
  const models = await temporaryFolder(t, 'secrets');
  const service = await startServiceProcess({ BACKENDS: 'onnx', MODELS_DIR: models, API_KEYS: API_KEY });
  t.teardown(() => service.stop());
  await until(() => service.output().includes('backends: onnx'), 20_000);
  t.equal((await fetch(`${service.url}/methods?key=query-secret-6`, { headers: { authorization: `Bearer ${API_KEY}` } })).status, 200);
  await until(() => service.output().includes('"url":"/methods?key=[redacted]"'), 20_000);
  t.match(service.output(), 'backends: onnx; jobs run in this process; docs at /docs');
  t.notMatch(service.output(), /A1111/, 'not a word of A1111');
  t.notMatch(service.output(), /query-secret-6|api-secret-key/);
});
