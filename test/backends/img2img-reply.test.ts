import t from 'tap';
import { readImg2imgReply } from '../../src/backends/a1111/img2img-reply.js';

// The reply splitter must read exactly what JSON.parse reads, whatever the spacing, escapes and key order.
const image = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256)).toString('base64');
const info = JSON.stringify({ seed: 5, sd_model_name: 'm', prompt: 'say "images": ["x"] and \\ slash' });

const BODIES: [string, string][] = [
  ['compact, as json.dumps with separators', JSON.stringify({ images: [image], parameters: { steps: 4 }, info })],
  ['FastAPI\'s spacing', `{"images": [ "${image}" ], "parameters": {"steps": 4}, "info": ${JSON.stringify(info)}}`],
  ['newlines and tabs around the array', `{\n\t"images" :\n[\n"${image}"\n],\n"info": ${JSON.stringify(info)}\n}`],
  ['slashes escaped by a proxy', JSON.stringify({ images: [image], info }).replace(/\//g, '\\/')],
  ['parameters first, with a prompt that spells the key', JSON.stringify({ parameters: { prompt: '"images": ["no"]' }, images: [image], info })],
  ['a nested "images" key before the real one', JSON.stringify({ parameters: { images: ['nested'] }, images: [image], info })],
  ['two images', JSON.stringify({ images: [image, 'AAAA'], info })],
  ['no images', JSON.stringify({ images: [], info })],
  ['images null', JSON.stringify({ images: null, info })],
  ['"images" only as a value', JSON.stringify({ note: 'images', info })],
];

for (const [label, body] of BODIES) {
  t.test(label, async (t) => {
    const reply = readImg2imgReply(Buffer.from(body));
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const first = Array.isArray(parsed['images']) ? (parsed['images'] as unknown[])[0] : undefined;
    t.same(reply.image === undefined ? undefined : Buffer.from(reply.image).toString('base64'), typeof first === 'string' ? Buffer.from(first, 'base64').toString('base64') : undefined);
    t.same(reply.fields, Object.fromEntries(Object.entries(parsed).filter(([key]) => key !== 'images')));
  });
}

t.test('not JSON is a SyntaxError, as JSON.parse would throw', async (t) => {
  for (const body of ['', '<html>Internal proxy error</html>', `{"images": ["${image}"`]) t.throws(() => readImg2imgReply(Buffer.from(body)), SyntaxError, JSON.stringify(body.slice(0, 20)));
});
