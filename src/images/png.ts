import { promisify } from 'node:util';
import { crc32, deflateSync, inflate } from 'node:zlib';

// Just enough PNG to write test images and to put A1111's "parameters" text chunk into the PNGs we return.

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeBytes = new TextEncoder().encode(type);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit RGB PNG; `pixel(x, y)` gives [r, g, b]. */
export function encodeRgbPng(width: number, height: number, pixel: (x: number, y: number) => readonly [number, number, number]): Uint8Array {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(pixel(x, y), (y * width + x) * 3);
  return encodeRgbPixels(width, height, pixels);
}

/** An 8-bit RGB PNG from interleaved RGB rows (filter type 0 on every row). */
export function encodeRgbPixels(width: number, height: number, pixels: Uint8Array): Uint8Array {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8);
  const stride = width * 3;
  const raw = new Uint8Array(height * (1 + stride));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (1 + stride) + 1);
  return concat([SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

export interface PngChunk {
  readonly type: string;
  readonly data: Uint8Array;
  /** The whole chunk as stored: length, type, data and CRC. */
  readonly stored: Uint8Array;
}

export function readPngChunks(png: Uint8Array): PngChunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: PngChunk[] = [];
  for (let at = 8; at + 12 <= png.length;) {
    const length = view.getUint32(at);
    chunks.push({ type: String.fromCharCode(...png.subarray(at + 4, at + 8)), data: png.subarray(at + 8, at + 8 + length), stored: png.subarray(at, at + 12 + length) });
    at += 12 + length;
  }
  return chunks;
}

/**
 * What is wrong with a PNG's chunk structure, in words, or undefined when every chunk is whole, passes its
 * CRC and IEND ends the file. Decoders complain tersely ("libpng read error"); this says where the damage is.
 */
export function pngStructureProblem(png: Uint8Array): string | undefined {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  while (at + 8 <= png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const end = at + 12 + length;
    if (end > png.length) return `its ${type} chunk at byte ${at} is cut short (${length} data bytes declared, ${Math.max(png.length - at - 8, 0)} present)`;
    if (view.getUint32(end - 4) !== crc32(png.subarray(at + 4, end - 4))) return `its ${type} chunk at byte ${at} fails its CRC (bytes changed)`;
    if (type === 'IEND') return undefined;
    at = end;
  }
  return 'it ends without an IEND chunk (cut short)';
}

const inflateAsync = promisify(inflate);

/** Channels per IHDR colour type (PNG spec §11.2.2): grey, RGB, palette, grey+alpha, RGBA. */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** The bit depths each colour type allows (PNG spec §11.2.2, table 11.1). */
const BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Adam7's passes as [x0, y0, dx, dy] (PNG spec §8.2); a non-interlaced image is one pass of every pixel. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * What keeps a PNG whose chunks are whole (pngStructureProblem) from decoding, in words, or undefined:
 * the IDAT stream must inflate completely (zlib checks its Adler-32) to the bytes IHDR's size, colour
 * type, bit depth and interlacing call for (more is ignored, as libpng ignores it), and every row must
 * start with a filter type 0–4.
 * These are the checks a decoder can fail on; skipping the unfiltering and the output makes this about
 * half the cost of decoding (3.8 ms against 7.3 ms for a 512² photo), on the zlib thread pool.
 */
export async function pngPixelProblem(png: Uint8Array): Promise<string | undefined> {
  const chunks = readPngChunks(png);
  const header = chunks[0];
  if (header?.type !== 'IHDR' || header.data.length !== 13) return 'it does not start with an IHDR chunk';
  const view = new DataView(header.data.buffer, header.data.byteOffset, 13);
  const [width, height] = [view.getUint32(0), view.getUint32(4)];
  const [depth = 0, colour = 0, compression = 0, filter = 0, interlace = 0] = header.data.subarray(8, 13);
  const channels = CHANNELS[colour];
  if (channels === undefined) return `its IHDR names colour type ${colour}, which PNG does not have`;
  if (!BIT_DEPTHS[colour]!.includes(depth)) return `its IHDR gives colour type ${colour} a bit depth of ${depth} (allowed: ${BIT_DEPTHS[colour]!.join(', ')})`;
  if (compression !== 0 || filter !== 0 || interlace > 1) return `its IHDR names compression method ${compression}, filter method ${filter} and interlace method ${interlace} (PNG has 0, 0 and 0 or 1)`;
  if (colour === 3 && !chunks.some((c) => c.type === 'PLTE')) return 'it is a palette image without a PLTE chunk';
  const passes = (interlace === 1 ? ADAM7 : [[0, 0, 1, 1] as const]).map(([x0, y0, dx, dy]) => {
    const columns = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const rows = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    return { rows: columns === 0 ? 0 : rows, rowBytes: 1 + Math.ceil((columns * channels * depth) / 8) };
  });
  const expected = passes.reduce((total, pass) => total + pass.rows * pass.rowBytes, 0);
  let pixels: Buffer;
  try {
    pixels = await inflateAsync(concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)), { chunkSize: Math.max(expected, 64), maxOutputLength: expected });
  } catch (error) {
    // More data than the image needs: libpng reads what it needs and ignores the rest, and so do we.
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    return `its compressed pixels do not inflate (${(error as Error).message})`;
  }
  if (pixels.length !== expected) return `its compressed pixels hold ${pixels.length} bytes, not the ${expected} IHDR calls for`;
  let at = 0;
  for (const pass of passes) {
    for (let row = 0; row < pass.rows; row++, at += pass.rowBytes) {
      if (pixels[at]! > 4) return `a row starts with filter type ${pixels[at]}, which PNG does not have`;
    }
  }
  return undefined;
}

/**
 * Sets a text chunk as PIL's PngInfo.add_text does (what A1111 writes and its PNG Info reads): tEXt when
 * the text is Latin-1, otherwise an uncompressed UTF-8 iTXt. Any earlier chunk with the same keyword goes.
 * The other chunks are copied as stored (a splice: no CRC is recomputed, nothing is re-encoded).
 */
export function setPngText(png: Uint8Array, keyword: string, text: string): Uint8Array {
  const chunks = readPngChunks(png).filter((c) => !(['tEXt', 'iTXt', 'zTXt'].includes(c.type) && textKeyword(c) === keyword));
  const latin1 = [...text].every((ch) => ch.charCodeAt(0) < 256);
  const keywordBytes = Uint8Array.from([...keyword].map((c) => c.charCodeAt(0)));
  const chunk = latin1
    ? pngChunk('tEXt', concat([keywordBytes, Uint8Array.of(0), Uint8Array.from([...text].map((c) => c.charCodeAt(0)))]))
    : pngChunk('iTXt', concat([keywordBytes, Uint8Array.of(0, 0, 0, 0, 0), new TextEncoder().encode(text)]));
  const rebuilt = chunks.flatMap((c) => (c.type === 'IEND' ? [chunk, c.stored] : [c.stored]));
  return concat([SIGNATURE, ...rebuilt]);
}

/** The text stored under a keyword in tEXt or uncompressed iTXt, if any. */
export function getPngText(png: Uint8Array, keyword: string): string | undefined {
  const chunk = readPngChunks(png).find((c) => ['tEXt', 'iTXt'].includes(c.type) && textKeyword(c) === keyword);
  if (chunk === undefined) return undefined;
  const afterKeyword = chunk.data.indexOf(0) + 1;
  if (chunk.type === 'tEXt') return String.fromCharCode(...chunk.data.subarray(afterKeyword));
  let at = afterKeyword + 2;
  at = chunk.data.indexOf(0, at) + 1;
  at = chunk.data.indexOf(0, at) + 1;
  return new TextDecoder().decode(chunk.data.subarray(at));
}

function textKeyword(chunk: PngChunk): string {
  return String.fromCharCode(...chunk.data.subarray(0, chunk.data.indexOf(0)));
}

/** The parts one after another, in a new buffer (not zero-filled first: every byte is written). */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
