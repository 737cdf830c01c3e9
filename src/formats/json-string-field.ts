// Finding one big string in JSON bytes without decoding the whole text: base64 images make up nearly all
// of an img2img body or reply, and turning megabytes into a JS string, scanning it and parsing it costs
// the event loop several milliseconds and leaves as much garbage. Callers cut the span out, parse the
// rest (which must then show the field as ""), and fall back to a plain parse when it does not.

/** Where the characters of the first `"key": "…"` string sit in `body`, when written without escapes. */
export function plainStringSpan(body: Buffer, key: string): { start: number; end: number } | undefined {
  const at = body.indexOf(`"${key}"`);
  if (at < 0) return undefined;
  return stringAfter(body, skipSpaces(body, at + key.length + 2), [COLON]);
}

/** The same for the first element of `"key": ["…"`. */
export function plainFirstStringSpan(body: Buffer, key: string): { start: number; end: number } | undefined {
  const at = body.indexOf(`"${key}"`);
  if (at < 0) return undefined;
  return stringAfter(body, skipSpaces(body, at + key.length + 2), [COLON, OPEN_BRACKET]);
}

/** The rest of `body` with the span's characters removed (so the string reads ""), as text. */
export function withoutSpan(body: Buffer, span: { start: number; end: number }): string {
  return `${body.toString('utf8', 0, span.start)}${body.toString('utf8', span.end)}`;
}

const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function stringAfter(body: Buffer, at: number, punctuation: readonly number[]): { start: number; end: number } | undefined {
  for (const mark of punctuation) {
    if (body[at] !== mark) return undefined;
    at = skipSpaces(body, at + 1);
  }
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
