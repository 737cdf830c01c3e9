import t from 'tap';
import { startService, until } from '../helpers/service.js';

interface Readiness {
  ready: boolean;
  queue?: unknown;
  backends?: Record<string, { units: { target: string; error?: string }[] }>;
}

t.test('/readyz with API_KEYS: ready or not for anyone, the details only with a key (status 200/503 either way); without API_KEYS, details for all', async (t) => {
  const up = await startService({ companion: true }, { API_KEYS: 'key-one' });
  t.teardown(() => up.close());
  await until(async () => (await up.app.inject({ url: '/readyz' })).statusCode === 200);
  for (const headers of [{}, { authorization: 'Bearer made-up' }]) {
    const open = await up.app.inject({ url: '/readyz', headers });
    t.same([open.statusCode, open.json()], [200, { ready: true }], `no details without a known key (${JSON.stringify(headers)})`);
  }
  const detailed = await up.app.inject({ url: '/readyz', headers: { authorization: 'Bearer key-one' } });
  t.equal(detailed.statusCode, 200);
  t.equal((detailed.json() as Readiness).backends?.['a1111']?.units[0]?.target, up.fakes[0]!.url, 'with the key: the units');

  // Nothing listens on port 9: the instance is down and the service is not ready.
  const down = await startService({}, { API_KEYS: 'key-one' }, () => 'http://127.0.0.1:9');
  t.teardown(() => down.close());
  await until(async () => (((await down.app.inject({ url: '/readyz', headers: { authorization: 'Bearer key-one' } })).json() as Readiness).backends?.['a1111']?.units[0]?.error ?? '') !== '', 20_000);
  const closed = await down.app.inject({ url: '/readyz' });
  t.same([closed.statusCode, closed.json()], [503, { ready: false }]);
  const reasons = await down.app.inject({ url: '/readyz', headers: { authorization: 'Bearer key-one' } });
  t.equal(reasons.statusCode, 503);
  t.match((reasons.json() as Readiness).backends?.['a1111']?.units[0], { target: 'http://127.0.0.1:9', error: /./ }, 'with the key: why');

  // Without API_KEYS there is no one to keep them from: the details for anyone, as before.
  const keyless = await startService({ companion: true });
  t.teardown(() => keyless.close());
  await until(async () => (await keyless.app.inject({ url: '/readyz' })).statusCode === 200);
  const readiness = (await keyless.app.inject({ url: '/readyz' })).json() as Readiness;
  t.equal(readiness.backends?.['a1111']?.units[0]?.target, keyless.fakes[0]!.url, 'without API_KEYS: the details for anyone');
  t.ok(readiness.queue, 'and the queue');
});
