import { UserError } from '../errors.js';

// Identify an uploaded image and read its size from the header alone, so an image whose header claims
// 50000×50000 is refused before anything decodes it.

export type ImageFormat = 'png' | 'jpeg' | 'webp';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp'];

export interface ImageInfo {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

/** What is wrong with a header, in words, for whoever reports it (an upload refused, an A1111 answer). */
export interface HeaderProblem {
  readonly problem: string;
  readonly code: 'IMAGE_UNSUPPORTED_FORMAT' | 'IMAGE_UNREADABLE';
}

/** Thrown inside the header readers, caught by readImageHeader. */
class Unreadable extends Error {}

/** The format and size an image's header gives, or what is wrong with it. */
export function readImageHeader(bytes: Uint8Array): ImageInfo | HeaderProblem {
  let size: ImageInfo | undefined;
  try {
    size = isPng(bytes) ? pngSize(bytes) : isJpeg(bytes) ? jpegSize(bytes) : isWebp(bytes) ? webpSize(bytes) : undefined;
  } catch (error) {
    if (error instanceof Unreadable) return { problem: error.message, code: 'IMAGE_UNREADABLE' };
    throw error;
  }
  if (size === undefined) return { problem: `not a PNG, JPEG or WebP file (allowed: ${IMAGE_FORMATS.join(', ')})`, code: 'IMAGE_UNSUPPORTED_FORMAT' };
  if (size.width < 1 || size.height < 1) return { problem: `header gives an empty ${size.width}×${size.height} image`, code: 'IMAGE_UNREADABLE' };
  return size;
}

/** An uploaded image's format and size, or a user error naming the field. */
export function sniffImage(bytes: Uint8Array): ImageInfo {
  const header = readImageHeader(bytes);
  if ('problem' in header) throw new UserError(`image: ${header.problem}`, header.code);
  return header;
}

const isPng = (b: Uint8Array): boolean => b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isWebp = (b: Uint8Array): boolean => b.length >= 16 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP';

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** IHDR is always the first chunk: width and height as big-endian u32 at bytes 16 and 20. */
function pngSize(bytes: Uint8Array): ImageInfo {
  if (ascii(bytes, 12, 4) !== 'IHDR') throw new Unreadable('PNG without an IHDR header');
  return { format: 'png', width: view(bytes).getUint32(16), height: view(bytes).getUint32(20) };
}

/** Walk the JPEG markers to the first start-of-frame (SOF0–SOF15 except DHT, JPG and DAC). */
function jpegSize(bytes: Uint8Array): ImageInfo {
  const data = view(bytes);
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) throw new Unreadable('corrupt JPEG (bad marker)');
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    const length = data.getUint16(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { format: 'jpeg', height: data.getUint16(at + 5), width: data.getUint16(at + 7) };
    }
    at += 2 + length;
  }
  throw new Unreadable('JPEG without a frame header');
}

/** VP8 (lossy), VP8L (lossless) and VP8X (extended) each store the canvas size differently. */
function webpSize(bytes: Uint8Array): ImageInfo {
  const data = view(bytes);
  const chunk = ascii(bytes, 12, 4);
  if (bytes.length < (chunk === 'VP8L' ? 25 : 30)) throw new Unreadable('truncated WebP header');
  if (chunk === 'VP8 ') return { format: 'webp', width: data.getUint16(26, true) & 0x3fff, height: data.getUint16(28, true) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = data.getUint32(21, true);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    const u24 = (at: number): number => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
    return { format: 'webp', width: u24(24) + 1, height: u24(27) + 1 };
  }
  throw new Unreadable(`unknown WebP chunk '${chunk}'`);
}
