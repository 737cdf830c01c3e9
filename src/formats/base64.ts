import { asBuffer } from './bytes.js';

// Base64 checked and decoded as it arrives. Images cross the service as base64 (a JSON body, A1111's
// API); a reply's megabytes decoded chunk by chunk never wait for the whole body nor become one string.
// Node's decoder skips characters outside the alphabet and stops at '=' (lib/buffer.js, simdutf's
// forgiving decode), so a text is plain base64 exactly when it decodes to the length its size implies.

/** Characters decoded per call: a multiple of 4, and a string small enough for V8's young generation. */
const SLICE = 64 * 1024;
/** The most characters the first buffer is sized for: a 64 MB text is an image of tens of megapixels. */
const FIRST_ALLOCATION = 64 * 1024 * 1024;

/**
 * Decodes base64 handed over in pieces of any size (a socket's chunks) into one buffer. `expectedChars`,
 * when known, sizes the buffer once; otherwise it grows.
 */
export class Base64Decoder {
  private out: Buffer;
  private written = 0;
  private chars = 0;
  /** The 0–3 characters of an unfinished quad, carried into the next piece. */
  private carry = '';
  /** The last two characters seen, to count the padding at the end. */
  private lastTwo = '';

  constructor(expectedChars = SLICE) {
    // A size from a header is a hint, not a promise: past FIRST_ALLOCATION the buffer grows as text comes.
    this.out = Buffer.allocUnsafeSlow(Math.ceil(Math.min(expectedChars, FIRST_ALLOCATION) / 4) * 3);
  }

  write(text: Uint8Array): void {
    this.chars += text.length;
    if (text.length >= 2) this.lastTwo = latin1(text, text.length - 2, text.length);
    else if (text.length === 1) this.lastTwo = this.lastTwo.slice(-1) + latin1(text, 0, 1);
    let at = 0;
    if (this.carry !== '') {
      const need = Math.min(4 - this.carry.length, text.length);
      this.carry += latin1(text, 0, need);
      at = need;
      if (this.carry.length < 4) return;
      this.decode(this.carry);
      this.carry = '';
    }
    const whole = at + Math.floor((text.length - at) / 4) * 4;
    for (; at < whole; at += SLICE) this.decode(latin1(text, at, Math.min(at + SLICE, whole)));
    this.carry = latin1(text, whole, text.length);
  }

  /** The decoded bytes, or undefined when the text was not all base64 (characters outside the alphabet, '=' inside). */
  end(): Buffer | undefined {
    if (this.carry !== '') this.decode(this.carry);
    return this.written === plainLength(this.chars, this.lastTwo) ? this.out.subarray(0, this.written) : undefined;
  }

  private decode(text: string): void {
    const room = Math.ceil(text.length / 4) * 3;
    if (this.written + room > this.out.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, this.written + room));
      this.out.copy(grown, 0, 0, this.written);
      this.out = grown;
    }
    this.written += this.out.write(text, this.written, 'base64');
  }
}

/**
 * The bytes a base64 text of `chars` characters ending in `tail` (its last two) decodes to when all of it
 * is in the alphabet; undefined for a length no base64 has.
 */
function plainLength(chars: number, tail: string): number | undefined {
  const data = chars - (tail.endsWith('==') ? 2 : tail.endsWith('=') ? 1 : 0);
  return data % 4 === 1 || chars % 4 === 1 ? undefined : Math.floor((data * 3) / 4);
}

/**
 * Whether `decoded`, what Node's decoder made of `text`, took every character of it (see above). The text
 * must be ASCII: Node reads a character above U+00FF by its low byte, so 'Ł' (U+0141) would pass as 'A'.
 */
export function decodedWhole(text: string, decoded: Uint8Array): boolean {
  return decoded.length > 0 && decoded.length === plainLength(text.length, text.slice(-2)) && Buffer.byteLength(text, 'utf8') === text.length;
}

/** Texts that `bytes` were decoded from, standard and padded, so that sending them on needs no encoding. */
const texts = new WeakMap<Uint8Array, Uint8Array>();

/**
 * Remembers that `bytes` were decoded from `text` (ASCII bytes), when that is what any decoder reads the
 * same: standard, padded, and all of it base64 (nothing skipped, such as line breaks). The text, and the
 * request body it is a view of, then live as long as the bytes: while their job waits or runs.
 */
export function rememberBase64(bytes: Uint8Array, text: Uint8Array): void {
  const ascii = asBuffer(text);
  const whole = bytes.length === plainLength(ascii.length, ascii.toString('latin1', ascii.length - 2));
  if (whole && ascii.length % 4 === 0 && !ascii.includes(MINUS) && !ascii.includes(UNDERSCORE)) texts.set(bytes, text);
}

/** The standard padded base64 of `bytes`, as ASCII bytes: a remembered text, else a new encoding. */
export function base64Of(bytes: Uint8Array): Uint8Array {
  return texts.get(bytes) ?? Buffer.from(asBuffer(bytes).toString('base64'), 'latin1');
}

const MINUS = 0x2d;
const UNDERSCORE = 0x5f;

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return asBuffer(bytes).toString('latin1', start, end);
}
