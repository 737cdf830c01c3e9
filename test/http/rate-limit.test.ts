import t from 'tap';
import { startService } from '../helpers/service.js';

/** The status of each of `count` requests to /methods from one address, each with its own made-up key. */
async function madeUpKeys(app: Awaited<ReturnType<typeof startService>>['app'], count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await app.inject({ url: '/methods', headers: { authorization: `Bearer made-up-${i}` } })).statusCode);
  return statuses;
}

const repeat = (status: number, times: number): number[] => Array<number>(times).fill(status);

t.test('with API_KEYS: wrong keys count against the address, known keys have their own budget', async (t) => {
  const service = await startService({ companion: true }, { API_KEYS: 'key-one', RATE_LIMIT_PER_MINUTE: '10' });
  t.teardown(() => service.close());
  t.same(await madeUpKeys(service.app, 40), [...repeat(401, 10), ...repeat(429, 30)], '10 failed authentications, then the address is limited');
  const limited = await service.app.inject({ url: '/methods' });
  t.equal(limited.statusCode, 429, 'no key at all: the same address, the same budget');
  t.equal(limited.json().code, 'RATE_LIMITED');
  t.match(limited.json().message, /rate limit: 10 requests per minute per key or address/);
  t.equal((await service.app.inject({ url: '/methods', headers: { authorization: 'Bearer key-one' } })).statusCode, 200, 'a known key from that address has its own budget');
  t.equal((await service.app.inject({ url: '/readyz' })).statusCode, 200, 'probes without a key are never limited');
  t.equal((await service.app.inject({ url: '/readyz', headers: { authorization: 'Bearer made-up-41' } })).statusCode, 429, 'but a key tried on /readyz (it tells a known key by its details) counts');
  const elsewhere = await service.app.inject({ url: '/methods', remoteAddress: '192.0.2.7', headers: { authorization: 'Bearer made-up-0' } });
  t.equal(elsewhere.statusCode, 401, 'another address has its own');
  t.equal(elsewhere.json().code, 'UNAUTHORIZED');
});

t.test('without API_KEYS: a bearer token does not buy a budget of its own', async (t) => {
  const service = await startService({ companion: true }, { RATE_LIMIT_PER_MINUTE: '10' });
  t.teardown(() => service.close());
  t.same(await madeUpKeys(service.app, 40), [...repeat(200, 10), ...repeat(429, 30)]);
});

t.test('behind a proxy: without TRUST_PROXY every caller shares the proxy\'s budget; with it, each forwarded address has its own', async (t) => {
  const viaProxy = (app: Awaited<ReturnType<typeof startService>>['app'], client: string) =>
    app.inject({ url: '/methods', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } }).then((r) => r.statusCode);
  for (const [trust, expectSecond] of [['', 429], ['127.0.0.1', 200], ['true', 200], ['1', 200]] as const) {
    const service = await startService({ companion: true }, { RATE_LIMIT_PER_MINUTE: '2', ...(trust ? { TRUST_PROXY: trust } : {}) });
    t.same([await viaProxy(service.app, '198.51.100.1'), await viaProxy(service.app, '198.51.100.1'), await viaProxy(service.app, '198.51.100.1')], [200, 200, 429], `TRUST_PROXY='${trust}': one client, its budget of 2`);
    t.equal(await viaProxy(service.app, '198.51.100.2'), expectSecond, `TRUST_PROXY='${trust}': a second client ${expectSecond === 200 ? 'has its own budget' : 'shares the proxy\'s'}`);
    await service.close();
  }
});
