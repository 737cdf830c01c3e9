import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UserError } from '../errors.js';
import { decodedWhole, rememberBase64 } from '../formats/base64.js';
import { plainStringSpan, withoutSpan } from '../formats/json-string-field.js';

// The image of an upscale request travels as bytes for as long as it can. A multipart upload keeps its
// file as bytes; a JSON body has its base64 cut out of the raw bytes (formats/json-string-field.ts), so
// the 0.5 MB+ of it is never decoded as UTF-8, scanned for prototype poisoning and parsed as a JS string.
// Either way the body's field holds a marker, so both body types validate against one schema, and the
// route takes the image from here.

/** What the image field of a parsed body holds when its content is kept here. */
export const UPLOADED_FILE = '(multipart file)';

type Upload = { readonly field: string } & ({ readonly bytes: Buffer } | { readonly base64: string; readonly base64Bytes: Buffer });

const uploads = new WeakMap<FastifyRequest, Upload>();

/** Standard or URL-safe base64, padded or not. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Smaller images are parsed as usual: the savings start at hundreds of kilobytes. */
const KEPT_BASE64_BYTES = 64 * 1024;

export function keepUpload(request: FastifyRequest, field: string, bytes: Buffer): void {
  uploads.set(request, { field, bytes });
}

/** The image bytes a request brought in `field`: a kept upload, else the body's base64 text. */
export function imageBytes(request: FastifyRequest, field: string, text: string): Uint8Array {
  const upload = uploads.get(request);
  if (upload?.field !== field) return decodeBase64Image(text);
  if ('bytes' in upload) return upload.bytes;
  const unprefixed = withoutDataPrefix(upload.base64);
  const bytes = decodeUnprefixed(unprefixed);
  // The base64 after any data: prefix, as bytes, for a backend to send on as it came.
  rememberBase64(bytes, upload.base64Bytes.subarray(upload.base64.length - unprefixed.length));
  return bytes;
}

function withoutDataPrefix(text: string): string {
  return text.replace(/^data:[^,]*,/, '');
}

function decodeBase64Image(text: string): Uint8Array {
  return decodeUnprefixed(withoutDataPrefix(text));
}

function decodeUnprefixed(unprefixed: string): Uint8Array {
  // The common case takes no scan of its own: Node's decoder skips what is not base64, which shows in
  // the length. Line-wrapped base64 (MIME) is decoded without its whitespace; anything else is refused.
  const plain = Buffer.from(unprefixed, 'base64');
  if (decodedWhole(unprefixed, plain)) return plain;
  const base64 = unprefixed.replace(/\s+/g, '');
  if (!BASE64.test(base64) || base64.length % 4 === 1) {
    throw new UserError('image: not valid base64 (send the file as base64, optionally with a data:image/...;base64, prefix)', 'IMAGE_NOT_BASE64');
  }
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) throw new UserError('image: empty', 'IMAGE_NOT_BASE64');
  return bytes;
}

/**
 * Fastify's own JSON parser (prototype-poisoning checks included), with the top-level "image" string of a
 * body kept here as base64 text instead of parsed; any body whose image is not a plain string (escapes,
 * another shape) is parsed whole as before.
 */
export function registerJsonImageParser(app: FastifyInstance, bodyLimit: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const bytes = body as Buffer;
    const span = plainStringSpan(bytes, 'image');
    if (span === undefined || span.end - span.start < KEPT_BASE64_BYTES) return parse(request, bytes.toString('utf8'), done);
    parse(request, withoutSpan(bytes, span), (error, parsed) => {
      const fields = parsed as Record<string, unknown> | undefined;
      // The span was the top-level image only if that now reads "".
      if (error || typeof fields !== 'object' || fields === null || fields['image'] !== '') return parse(request, bytes.toString('utf8'), done);
      uploads.set(request, { field: 'image', base64: bytes.toString('latin1', span.start, span.end), base64Bytes: bytes.subarray(span.start, span.end) });
      done(null, { ...fields, image: UPLOADED_FILE });
    });
  });
}
