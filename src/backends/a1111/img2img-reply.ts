// A1111's img2img reply is JSON whose bulk is the first base64 image (~2.5 MB for 1024²). Decoding all of
// it to a string and JSON.parse-ing it cost ~8 ms of the event loop per job; here the image's base64 is
// cut out of the bytes and decoded straight to bytes, and only the rest (parameters, info) is parsed.
// FastAPI writes the reply with json.dumps (modules/api/api.py, `images: list[str]`), whose base64 strings
// hold no escapes; anything unusual (an escape, another shape) takes the plain JSON.parse path.

export interface Img2imgReply {
  /** The first image's bytes, when the reply has one as a string. */
  readonly image?: Uint8Array;
  /** The reply less its images (`info`, `parameters`, …). */
  readonly fields: Record<string, unknown>;
}

const IMAGES_KEY = Buffer.from('"images"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Splits the reply body; throws SyntaxError when it is not JSON. */
export function readImg2imgReply(body: Buffer): Img2imgReply {
  const span = firstImageSpan(body);
  if (span === undefined) return plainReply(JSON.parse(body.toString('utf8')) as unknown);
  const { start, end } = span;
  // The image becomes an empty string, so the rest still parses as the same JSON.
  const rest = JSON.parse(`${body.toString('utf8', 0, start)}${body.toString('utf8', end)}`) as unknown;
  const { images, ...fields } = objectOf(rest);
  if (!Array.isArray(images) || images[0] !== '') return plainReply(JSON.parse(body.toString('utf8')) as unknown);
  return { image: Buffer.from(body.toString('latin1', start, end), 'base64'), fields };
}

/** Where the characters of the first element of a top-level-looking "images": ["…" sit, if plainly written. */
function firstImageSpan(body: Buffer): { start: number; end: number } | undefined {
  const key = body.indexOf(IMAGES_KEY);
  if (key < 0) return undefined;
  let at = skipSpaces(body, key + IMAGES_KEY.length);
  if (body[at] !== 0x3a) return undefined; // :
  at = skipSpaces(body, at + 1);
  if (body[at] !== 0x5b) return undefined; // [
  at = skipSpaces(body, at + 1);
  if (body[at] !== QUOTE) return undefined;
  const start = at + 1;
  const end = body.indexOf(QUOTE, start);
  if (end < 0 || body.subarray(start, end).includes(BACKSLASH)) return undefined;
  return { start, end };
}

function skipSpaces(body: Buffer, at: number): number {
  while (at < body.length && (body[at] === 0x20 || body[at] === 0x0a || body[at] === 0x0d || body[at] === 0x09)) at++;
  return at;
}

function plainReply(parsed: unknown): Img2imgReply {
  const { images, ...fields } = objectOf(parsed);
  const first = Array.isArray(images) ? images[0] : undefined;
  return { ...(typeof first === 'string' ? { image: Buffer.from(first, 'base64') } : {}), fields };
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
