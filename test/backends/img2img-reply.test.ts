import t from 'tap';
import { Img2imgReplyReader, readImg2imgReply } from '../../src/backends/a1111/img2img-reply.js';

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

/** The reply read whole, and as a socket hands it over in chunks of each size (1 byte splits every token). */
const READERS: [string, (body: Buffer) => ReturnType<typeof readImg2imgReply>][] = [
  ['whole', readImg2imgReply],
  ...[1, 7, 1000, 65536].map((size): [string, (body: Buffer) => ReturnType<typeof readImg2imgReply>] => [`in ${size}-byte chunks`, (body) => {
    const reader = new Img2imgReplyReader(size === 7 ? undefined : body.length);
    for (let at = 0; at < body.length; at += size) reader.write(body.subarray(at, at + size));
    return reader.end();
  }]),
];

for (const [label, body] of BODIES) {
  for (const [how, read] of READERS) {
    t.test(`${label}, ${how}`, async (t) => {
      const reply = read(Buffer.from(body));
      const parsed = JSON.parse(body) as Record<string, unknown>;
      const first = Array.isArray(parsed['images']) ? (parsed['images'] as unknown[])[0] : undefined;
      t.same(reply.image === undefined ? undefined : Buffer.from(reply.image).toString('base64'), typeof first === 'string' ? Buffer.from(first, 'base64').toString('base64') : undefined);
      t.same(reply.fields, Object.fromEntries(Object.entries(parsed).filter(([key]) => key !== 'images')));
    });
  }
}

t.test('an image that is not plain base64 reads as JSON.parse and Buffer.from read it', async (t) => {
  // A line break escaped by a proxy, a character outside the alphabet, a '=' inside: each decodes as the whole-text path decodes it.
  for (const odd of [`${image.slice(0, 100)}\\n${image.slice(100)}`, `${image.slice(0, 101)}*${image.slice(101)}`, `${image.slice(0, 100)}==${image.slice(100)}`]) {
    const body = Buffer.from(`{"images": ["${odd}"], "info": "{}"}`);
    const reader = new Img2imgReplyReader(body.length);
    for (let at = 0; at < body.length; at += 333) reader.write(body.subarray(at, at + 333));
    const first = (JSON.parse(body.toString()) as { images: string[] }).images[0]!;
    t.same(Buffer.from(reader.end().image!).toString('hex'), Buffer.from(first, 'base64').toString('hex'), odd.slice(98, 104));
  }
});

t.test('not JSON is a SyntaxError, as JSON.parse would throw', async (t) => {
  for (const body of ['', '<html>Internal proxy error</html>', `{"images": ["${image}"`, `{"images": ["${image}"], "info": `]) {
    for (const [how, read] of READERS) t.throws(() => read(Buffer.from(body)), SyntaxError, `${JSON.stringify(body.slice(0, 20))}…${JSON.stringify(body.slice(-10))}, ${how}`);
  }
});
