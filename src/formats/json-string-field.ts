// Finding one big string in JSON bytes without decoding the whole text: base64 images make up nearly all
// of an img2img body or reply, and turning megabytes into a JS string, scanning it and parsing it costs
// the event loop several milliseconds and leaves as much garbage. Callers cut the span out, parse the
// rest (which must then show the field as ""), and fall back to a plain parse when it does not.

/** Where the characters of the first `"key": "…"` string sit in `body`, when written without escapes. */
export function plainStringSpan(body: Buffer, key: string): { start: number; end: number } | undefined {
  return stringAt(body, stringOpening(body, key, [COLON]));
}

/** The same for the first element of `"key": ["…"`. */
export function plainFirstStringSpan(body: Buffer, key: string): { start: number; end: number } | undefined {
  return stringAt(body, firstStringOpening(body, key));
}

/**
 * Where the characters of the first element of `"key": ["…"` start in `body`, the first bytes of a text
 * still arriving: 'more' when they end before that is known, undefined when it is not there as written.
 */
export function firstStringOpening(body: Buffer, key: string): number | 'more' | undefined {
  return stringOpening(body, key, [COLON, OPEN_BRACKET]);
}

/** The rest of `body` with the span's characters removed (so the string reads ""), as text. */
export function withoutSpan(body: Buffer, span: { start: number; end: number }): string {
  return `${body.toString('utf8', 0, span.start)}${body.toString('utf8', span.end)}`;
}

/**
 * JSON of `fields` after a first field `key` holding a list of one string, whose characters are `plain`:
 * bytes that need no escaping (base64), copied in without ever becoming a JS string.
 */
export function jsonWithStringList(key: string, plain: Uint8Array, fields: Readonly<Record<string, unknown>>): Buffer {
  const rest = JSON.stringify(fields);
  return Buffer.concat([Buffer.from(`{${JSON.stringify(key)}:["`), plain, Buffer.from(rest === '{}' ? '"]}' : `"],${rest.slice(1)}`)]);
}

const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function stringOpening(body: Buffer, key: string, punctuation: readonly number[]): number | 'more' | undefined {
  const keyAt = body.indexOf(`"${key}"`);
  if (keyAt < 0) return 'more';
  let at = skipSpaces(body, keyAt + key.length + 2);
  for (const mark of [...punctuation, QUOTE]) {
    if (at >= body.length) return 'more';
    if (body[at] !== mark) return undefined;
    at = mark === QUOTE ? at + 1 : skipSpaces(body, at + 1);
  }
  return at;
}

/** The string whose characters start at `start` in a whole text, when it holds no escapes. */
function stringAt(body: Buffer, start: number | 'more' | undefined): { start: number; end: number } | undefined {
  if (typeof start !== 'number') return undefined;
  const end = body.indexOf(QUOTE, start);
  if (end < 0 || body.subarray(start, end).includes(BACKSLASH)) return undefined;
  return { start, end };
}

function skipSpaces(body: Buffer, at: number): number {
  while (at < body.length && (body[at] === 0x20 || body[at] === 0x0a || body[at] === 0x0d || body[at] === 0x09)) at++;
  return at;
}
