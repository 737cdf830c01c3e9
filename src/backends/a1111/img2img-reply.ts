import { plainFirstStringSpan, withoutSpan } from '../../formats/json-string-field.js';

// A1111's img2img reply is JSON whose bulk is the first base64 image (~2.5 MB for 1024²). Its base64 is
// cut out of the bytes and decoded straight to bytes, and only the rest (parameters, info) is parsed.
// FastAPI writes the reply with json.dumps (modules/api/api.py, `images: list[str]`), whose base64 strings
// hold no escapes; anything unusual (an escape, another shape) takes the plain JSON.parse path.

export interface Img2imgReply {
  /** The first image's bytes, when the reply has one as a string. */
  readonly image?: Uint8Array;
  /** The reply less its images (`info`, `parameters`, …). */
  readonly fields: Record<string, unknown>;
}

/** Splits the reply body; throws SyntaxError when it is not JSON. */
export function readImg2imgReply(body: Buffer): Img2imgReply {
  const span = plainFirstStringSpan(body, 'images');
  if (span !== undefined) {
    const { images, ...fields } = objectOf(JSON.parse(withoutSpan(body, span)) as unknown);
    // The span was the top-level images' first element only if that now reads "".
    if (Array.isArray(images) && images[0] === '') return { image: Buffer.from(body.toString('latin1', span.start, span.end), 'base64'), fields };
  }
  const { images, ...fields } = objectOf(JSON.parse(body.toString('utf8')) as unknown);
  const first = Array.isArray(images) ? images[0] : undefined;
  return { ...(typeof first === 'string' ? { image: Buffer.from(first, 'base64') } : {}), fields };
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
