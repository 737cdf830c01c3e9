import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import { decodeImage } from '../../src/images/decode.js';
import { encodeRgbPixelsOffThread } from '../../src/images/encode.js';
import { concat, encodeRgbPng, getPngText, pngChunk, pngPixelProblem, readPngChunks, setPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import { infotext } from '../../src/upscale/infotext.js';
import { pythonWith } from '../helpers/python.js';
import { temporaryFolder } from '../helpers/temporary.js';

t.test('sniff reads sizes from hand-made JPEG and WebP headers', async (t) => {
  // JPEG: SOI, an APP0 segment, then SOF0 with precision 8, height 300, width 200.
  const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x00, 0xc8, 0x03]);
  t.same(sniffImage(jpeg), { format: 'jpeg', width: 200, height: 300 });
  const riff = (chunk: string, body: number[]): Uint8Array => Uint8Array.from([...Buffer.from('RIFF'), 0, 0, 0, 0, ...Buffer.from('WEBP'), ...Buffer.from(chunk), 0, 0, 0, 0, ...body]);
  // VP8X: flags + 3 reserved bytes, then width−1 and height−1 as 24-bit little-endian: 640×480.
  t.same(sniffImage(riff('VP8X', [0, 0, 0, 0, 0x7f, 0x02, 0x00, 0xdf, 0x01, 0x00])), { format: 'webp', width: 640, height: 480 });
  // VP8 (lossy): frame tag, start code 9d 01 2a, 14-bit width and height: 320×240.
  t.same(sniffImage(riff('VP8 ', [0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00])), { format: 'webp', width: 320, height: 240 });
  // VP8L: signature 0x2f, then width−1 (14 bits) and height−1 (14 bits), little-endian: 100×50.
  const bits = 99 | (49 << 14);
  t.same(sniffImage(riff('VP8L', [0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >> 24) & 0xff, 0, 0, 0, 0])), { format: 'webp', width: 100, height: 50 });
  t.throws(() => sniffImage(Buffer.from('GIF89a................................')), { message: /not a PNG, JPEG or WebP file/ });
});

t.test('PNG text chunks: set, replace, read back; Latin-1 as tEXt, anything else as iTXt', async (t) => {
  const png = encodeRgbPng(3, 2, () => [1, 2, 3]);
  t.same(sniffImage(png), { format: 'png', width: 3, height: 2 });
  const once = setPngText(png, 'parameters', 'first');
  const twice = setPngText(once, 'parameters', 'Steps: 20, Sampler: Euler');
  t.equal(getPngText(twice, 'parameters'), 'Steps: 20, Sampler: Euler');
  t.equal(readPngChunks(twice).filter((c) => c.type === 'tEXt').length, 1, 'the old chunk was replaced');
  t.same(readPngChunks(twice).map((c) => c.type), ['IHDR', 'IDAT', 'tEXt', 'IEND']);
  const unicode = setPngText(png, 'parameters', 'a photo of 猫, café');
  t.equal(readPngChunks(unicode)[2]!.type, 'iTXt');
  t.equal(getPngText(unicode, 'parameters'), 'a photo of 猫, café');
});

t.test('the off-thread PNG encoder round-trips every pixel and takes the parameters chunk', async (t) => {
  const width = 37;
  const height = 23;
  const pixels = new Uint8Array(width * height * 3).map((_, i) => (i * 7919) % 256);
  const png = await encodeRgbPixelsOffThread(width, height, pixels);
  t.same(sniffImage(png), { format: 'png', width, height });
  const decoded = await decodeImage(png);
  t.same([decoded.width, decoded.height], [width, height]);
  t.ok(Buffer.from(decoded.pixels).equals(Buffer.from(pixels)), 'lossless');
  t.equal(getPngText(setPngText(png, 'parameters', 'Steps: 4'), 'parameters'), 'Steps: 4');
});

t.test('infotext follows A1111: prompt, negative prompt, quoted values with commas', async (t) => {
  t.equal(infotext({ prompt: 'cat', negativePrompt: '', parameters: [['Steps', 20], ['Sampler', 'Euler a']] }), 'cat\nSteps: 20, Sampler: Euler a');
  t.equal(infotext({ prompt: '', negativePrompt: 'ugly', parameters: [['Model', 'a, b'], ['Note', 'x: y']] }), 'Negative prompt: ugly\nModel: "a, b", Note: "x: y"');
});

const python = pythonWith(['PIL']);
t.test('against PIL', { skip: python.skip }, async (t) => {
  const script = fileURLToPath(new URL('../reference/pil_images.py', import.meta.url));
  const dir = await temporaryFolder(t, 'pil');
  const run = (...args: string[]): string => {
    const result = spawnSync(python.python!, [script, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(result.stderr);
    return result.stdout;
  };

  t.test('sizes of PNG, JPEG (baseline, progressive) and WebP (lossy, lossless, alpha) files written by PIL', async (t) => {
    run('write', dir);
    for (const [file, format, width, height] of [
      ['pil.png', 'png', 123, 45], ['pil.jpg', 'jpeg', 123, 45], ['pil-progressive.jpg', 'jpeg', 123, 45],
      ['pil-lossy.webp', 'webp', 123, 45], ['pil-lossless.webp', 'webp', 123, 45], ['pil-alpha.webp', 'webp', 77, 33],
    ] as const) {
      t.same(sniffImage(await readFile(join(dir, file))), { format, width, height }, file);
    }
  });

  t.test('PIL (what A1111\'s PNG Info uses) reads our PNG and its parameters text', async (t) => {
    const text = 'a cat\nNegative prompt: blurry\nSteps: 12, Sampler: DPM++ 2M, Seed: 42, Latent upscale method: bislerp';
    await writeFile(join(dir, 'ours.png'), setPngText(encodeRgbPng(17, 9, (x, y) => [x, y, 0]), 'parameters', text));
    await writeFile(join(dir, 'ours-unicode.png'), setPngText(encodeRgbPng(2, 2, () => [0, 0, 0]), 'parameters', '猫 ✓'));
    t.same(JSON.parse(run('read', join(dir, 'ours.png'))), { size: [17, 9], info: { parameters: text } });
    t.same(JSON.parse(run('read', join(dir, 'ours-unicode.png'))).info, { parameters: '猫 ✓' });
  });
});

t.test('pngPixelProblem finds what stops a decoder, and nothing in PNGs that decode (sharp/libpng is the judge)', async (t) => {
  const rgb = Buffer.alloc(37 * 23 * 3).map((_, i) => (i * 31) % 256);
  const raw = { raw: { width: 37, height: 23, channels: 3 as const } };
  const good: Record<string, Buffer> = {
    'RGB, adaptive filters': await sharp(rgb, raw).png({ adaptiveFiltering: true }).toBuffer(),
    'Adam7 interlaced': await sharp(rgb, raw).png({ progressive: true }).toBuffer(),
    'palette': await sharp(rgb, raw).png({ palette: true, colours: 16 }).toBuffer(),
    'grey': await sharp(rgb, raw).greyscale().png().toBuffer(),
    '16-bit RGB': await sharp(rgb, raw).toColourspace('rgb16').png().toBuffer(),
    'RGBA': await sharp(rgb, raw).ensureAlpha(0.5).png().toBuffer(),
    'our encoder': Buffer.from(encodeRgbPng(37, 23, (x, y) => [x * 6, y * 11, 90])),
  };
  for (const [name, png] of Object.entries(good)) {
    await t.resolves(sharp(png, { failOn: 'warning' }).raw().toBuffer(), `${name}: libpng decodes it`);
    t.equal(await pngPixelProblem(png), undefined, `${name}: no problem found`);
  }
  const rebuilt = (png: Uint8Array, change: (type: string, data: Uint8Array) => Uint8Array): Uint8Array =>
    concat([png.subarray(0, 8), ...readPngChunks(png).map((c) => pngChunk(c.type, change(c.type, c.data)))]);
  const base = good['our encoder']!;
  const withHeight = (height: number) => rebuilt(base, (type, data) => {
    if (type !== 'IHDR') return data;
    const header = Uint8Array.from(data);
    new DataView(header.buffer).setUint32(4, height);
    return header;
  });
  const rows = Buffer.from(inflateSync(readPngChunks(base).find((c) => c.type === 'IDAT')!.data));
  rows[0] = 7;
  const bad: Record<string, [Uint8Array, RegExp]> = {
    'flipped deflate bytes under valid CRCs': [rebuilt(base, (type, data) => (type === 'IDAT' ? data.map((b, i) => (i > 4 && i < 20 ? b ^ 0xff : b)) : data)), /^its compressed pixels do not inflate \(/],
    'IHDR says more rows than there are': [withHeight(30), /^its compressed pixels hold 2576 bytes, not the 3360 IHDR calls for$/],
    'a row with filter type 7': [rebuilt(base, (type, data) => (type === 'IDAT' ? deflateSync(rows) : data)), /^a row starts with filter type 7, which PNG does not have$/],
  };
  // Fewer rows than the data holds: libpng reads what it needs and ignores the rest, so it is no problem.
  const short = withHeight(20);
  await t.resolves(sharp(Buffer.from(short), { failOn: 'warning' }).raw().toBuffer(), 'IHDR says fewer rows than there are: libpng decodes it');
  t.equal(await pngPixelProblem(short), undefined, 'IHDR says fewer rows than there are: no problem found');
  for (const [name, [png, expected]] of Object.entries(bad)) {
    await t.rejects(sharp(Buffer.from(png), { failOn: 'warning' }).raw().toBuffer(), `${name}: libpng refuses it`);
    t.match(await pngPixelProblem(png), expected, name);
  }
});
