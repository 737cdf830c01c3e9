import { readFile } from 'node:fs/promises';
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';
import { pngBase64, startService, until } from '../helpers/service.js';

const service = await startService({ companion: true }, { MAX_BODY_MB: '0.05' });
t.teardown(() => service.close());

t.test('errors raised by Fastify itself carry a code too, with the status the code stands for', async (t) => {
  const cases = [
    [{ url: '/no-such-route' }, 404, 'NOT_FOUND', /no route GET \/no-such-route/],
    [{ method: 'POST', url: '/upscale', payload: '{"image": ', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_JSON', /./],
    [{ method: 'POST', url: '/upscale', payload: { image: 'A'.repeat(80_000) } }, 413, 'BODY_TOO_LARGE', /./],
    [{ method: 'POST', url: '/upscale', payload: '<image/>', headers: { 'content-type': 'application/xml' } }, 415, 'UNSUPPORTED_MEDIA_TYPE', /./],
    [{ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 'many' } }, 400, 'INVALID_REQUEST', /body\.steps/],
    [{ url: '/jobs/00000000-0000-4000-8000-000000000000' }, 404, 'JOB_NOT_FOUND', /not found/],
  ] as const;
  for (const [request, status, code, message] of cases) {
    const response = await service.app.inject(request as InjectOptions);
    t.equal(response.statusCode, status, `${code}: status`);
    t.match(response.json(), { statusCode: status, code, error: /\w/, message }, code);
    t.equal(ERROR_CODES[code].status, status, `${code} is documented with the status it answers`);
  }
});

t.test('the served OpenAPI document and the README list every code with its status', async (t) => {
  const document = (await service.app.inject({ url: '/docs/json' })).json() as { info: { description: string }; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    t.match(document.info.description, `| \`${code}\` | ${status} |`, `OpenAPI: ${code}`);
    t.match(readme, `| \`${code}\` | ${status} |`, `README: ${code}`);
  }
  for (const [path, method] of [['/latents/resize', 'post'], ['/upscale', 'post'], ['/sigmas', 'get']] as const) {
    const error = document.paths[path]![method]!.responses['4XX'] as { content: Record<string, unknown> };
    t.same(Object.keys(error.content), ['application/json'], `${path}: errors are JSON whatever the route produces`);
  }
  const upscale = document.paths['/upscale']!['post']!.responses;
  t.same((upscale['4XX'] as { content: Record<string, { schema: { properties: { code: { enum: string[] } } } }> }).content['application/json']!.schema.properties.code.enum, Object.keys(ERROR_CODES), 'error responses give the code enum');
});

t.test('a job that fails with a 503 says when to come back, as a refused submit does', async (t) => {
  const own = await startService({ companion: true, hang: true });
  t.teardown(() => own.close());
  const fake = own.fakes[0]!;
  const answer = own.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  await until(() => fake.received.length === 1);
  await fake.stop();
  const response = await answer;
  t.match(response.json(), { statusCode: 503, code: 'BACKEND_UNAVAILABLE' });
  t.equal(response.headers['retry-after'], '5');
});

t.test('a field named like an Object.prototype member is just unknown', async (t) => {
  for (const field of ['constructor', 'toString', '__proto__x']) {
    const response = await service.app.inject({ url: `/sigmas?steps=4&${field}=1` });
    t.match(response.json(), { statusCode: 400, code: 'UNKNOWN_FIELD' });
    t.equal(response.json().message.split(';')[0], `querystring: unknown field '${field}'`, `${field}: no hint drawn from a prototype`);
  }
});
