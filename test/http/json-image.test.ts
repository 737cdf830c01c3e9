import t from 'tap';
import { photoLikePng } from '../fakes/photo.js';
import { startService } from '../helpers/service.js';

// A JSON body's large image is cut out of the raw bytes instead of parsed (src/http/uploads.ts). Whatever
// the body's spelling, A1111 must receive exactly the image a plain JSON.parse would have found, and the
// errors must be those of a plain parse.
const service = await startService({ companion: true, schedulers: true });
t.teardown(() => service.close());
const fake = service.fakes[0]!;
const png = Buffer.from(await photoLikePng(256, 192, 5));
const base64 = png.toString('base64');
t.ok(base64.length > 64 * 1024, `the image is large enough for the fast path (${base64.length} base64 characters)`);

const post = (payload: string) => service.app.inject({ method: 'POST', url: '/upscale', payload, headers: { 'content-type': 'application/json' } });
const sentBase64 = (): string => (fake.received[fake.received.length - 1]!['init_images'] as string[])[0]!;

const BODIES: Record<string, string> = {
  'image first, compact': JSON.stringify({ image: base64, scale: 2, steps: 2 }),
  'image last, spaced': `{ "scale" : 2, "steps": 2,\n  "image" :\t"${base64}" }`,
  'a data: URL': JSON.stringify({ image: `data:image/png;base64,${base64}`, steps: 2 }),
  'line-wrapped base64 (escaped newlines)': JSON.stringify({ image: base64.replace(/.{76}/g, '$&\n'), steps: 2 }),
  'line-wrapped base64 (escaped CRLF)': JSON.stringify({ image: base64.replace(/.{76}/g, '$&\r\n'), steps: 2 }),
  'URL-safe base64 without padding': JSON.stringify({ image: png.toString('base64url'), steps: 2 }),
  'escaped slashes': JSON.stringify({ image: base64, steps: 2 }).replace(/\//g, '\\/'),
  'a prompt that spells the key first': JSON.stringify({ prompt: 'an "image": "of a cat"', image: base64, steps: 2 }),
  '"image" as an earlier value': JSON.stringify({ prompt: 'image', image: base64, steps: 2 }),
};

for (const [name, body] of Object.entries(BODIES)) {
  t.test(name, async (t) => {
    const response = await post(body);
    t.equal(response.statusCode, 200, response.body.slice(0, 200));
    // Python's b64decode, which A1111 uses, wants the standard alphabet and its padding.
    t.equal(sentBase64(), base64, 'A1111 received the very image, as standard padded base64');
  });
}

t.test('the image itself never goes through JSON.parse', async (t) => {
  // The fake A1111 runs in this process and parses its own body (which names the image init_images).
  const parse = JSON.parse;
  const bodies: string[] = [];
  JSON.parse = ((text: string, reviver?: (key: string, value: unknown) => unknown) => (bodies.push(text), parse(text, reviver))) as typeof JSON.parse;
  try {
    t.equal((await post(BODIES['image first, compact']!)).statusCode, 200);
  } finally {
    JSON.parse = parse;
  }
  const ours = bodies.filter((text) => text.includes('"steps"') && !text.includes('init_images'));
  t.ok(ours.length > 0 && ours.every((text) => !text.includes(base64.slice(0, 1000))), `the service parsed ${ours.map((text) => text.length).join(', ')} characters of JSON, none of it the image`);
});

t.test('errors are those of a plain parse', async (t) => {
  const truncated = await post(JSON.stringify({ image: base64, steps: 2 }).slice(0, -3));
  t.match(truncated.json(), { statusCode: 400, code: 'INVALID_JSON' });
  const poisoned = await post(`{"image": "${base64}", "__proto__": {"admin": true}}`);
  t.equal(poisoned.statusCode, 400, 'prototype poisoning is refused, as Fastify\'s own parser refuses it');
  const notBase64 = await post(JSON.stringify({ image: `${base64.slice(0, 70_000)}!!${base64.slice(70_000)}`, steps: 2 }));
  t.match(notBase64.json(), { statusCode: 400, code: 'IMAGE_NOT_BASE64' });
  const unknown = await post(JSON.stringify({ image: base64, denoising_strength: 0.5 }));
  t.match(unknown.json(), { statusCode: 400, code: 'UNKNOWN_FIELD', message: /denoising_strength/ });
  const wrongType = await post(JSON.stringify({ image: base64, steps: 'many' }));
  t.match(wrongType.json(), { statusCode: 400, code: 'INVALID_REQUEST', message: /steps/ });
});
