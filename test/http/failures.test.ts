import t from 'tap';
import { pngBase64, startService, until } from '../helpers/service.js';

t.test('A1111 down from the start: 503 at once, readyz says why', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  await service.fakes[0]!.stop();
  await until(async () => (await service.app.inject({ url: '/readyz' })).statusCode === 503);
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(response.statusCode, 503);
  t.equal(response.headers['retry-after'], '5');
  t.match(response.json().message, /no A1111 instance is available \(A1111 at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)\)/);
  const ready = (await service.app.inject({ url: '/readyz' })).json();
  t.equal(ready.ready, false);
  t.equal(ready.backends.a1111.units[0].healthy, false);
});

t.test('A1111 comes back: the health check marks it healthy again', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  const port = await service.fakes[0]!.stop();
  await until(async () => (await service.app.inject({ url: '/readyz' })).statusCode === 503);
  await service.fakes[0]!.start(port);
  await until(async () => (await service.app.inject({ url: '/readyz' })).statusCode === 200);
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(response.statusCode, 200);
});

t.test('A1111 500 becomes a 502 carrying A1111\'s message; the instance stays in service', async (t) => {
  const service = await startService({ companion: true });
  t.teardown(() => service.close());
  service.fakes[0]!.failNext = { status: 500, body: { error: 'OutOfMemoryError', detail: '', body: '', errors: 'CUDA out of memory. Tried to allocate 2.00 GiB' } };
  const failed = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(failed.statusCode, 502);
  t.match(failed.json().message, /A1111 at http:\/\/127\.0\.0\.1:\d+ answered 500 to POST \/sdapi\/v1\/img2img: OutOfMemoryError: CUDA out of memory/);
  const next = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(next.statusCode, 200);
});

t.test('A1111 slower than A1111_TIMEOUT_SECONDS: 504', async (t) => {
  const service = await startService({ companion: true }, { A1111_TIMEOUT_SECONDS: '0.3' });
  t.teardown(() => service.close());
  service.fakes[0]!.answerDelayMs = 800;
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(response.statusCode, 504);
  t.match(response.json().message, /A1111 at http:\/\/127\.0\.0\.1:\d+ did not answer \/sdapi\/v1\/img2img within 0\.3 s/);
});

t.test('--api-auth: wrong credentials are a clear 503 naming the 401; right ones are sent as Basic auth', async (t) => {
  const auth = { username: 'svc', password: 's3cret' };
  const wrong = await startService({ companion: true, auth }, {}, (fakes) => fakes[0]!.url.replace('http://', 'http://svc:nope@'));
  t.teardown(() => wrong.close());
  const refused = await wrong.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(refused.statusCode, 503);
  t.match(refused.json().message, /answered 401 .*Incorrect username or password \(check the user:password in A1111_URLS against A1111's --api-auth\)/);

  const right = await startService({ companion: true, auth }, {}, (fakes) => fakes[0]!.url.replace('http://', 'http://svc:s3cret@'));
  t.teardown(() => right.close());
  const ok = await right.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(ok.statusCode, 200, ok.body);

  // `--api-auth :s3cret`: a password with an empty user name, given in the URL as http://:s3cret@host.
  const passwordOnly = await startService({ companion: true, auth: { username: '', password: 's3cret' } }, {}, (fakes) => fakes[0]!.url.replace('http://', 'http://:s3cret@'));
  t.teardown(() => passwordOnly.close());
  const alsoOk = await passwordOnly.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(alsoOk.statusCode, 200, alsoOk.body);
});

t.test('an instance that dies mid-job: the job moves to the other instance, nothing is lost', async (t) => {
  const service = await startService([{ companion: true, stepDelayMs: 30 }, { companion: true }]);
  t.teardown(() => service.close());
  const [first, second] = service.fakes;
  const pending = service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 20 } });
  await until(() => first!.received.length === 1);
  await first!.stop();
  const response = await pending;
  t.equal(response.statusCode, 200, response.body);
  t.equal(second!.received.length, 1, 'the second instance ran it');
});
