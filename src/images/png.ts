import { crc32, deflateSync } from 'node:zlib';

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

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
