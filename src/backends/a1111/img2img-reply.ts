import { Base64Decoder } from '../../formats/base64.js';
import { firstStringOpening, plainFirstStringSpan, withoutSpan } from '../../formats/json-string-field.js';

// A1111's img2img reply is JSON whose bulk is the first base64 image (~2.5 MB for 1024²). Its base64 is
// decoded straight to bytes as the reply arrives, and only the rest (parameters, info) is parsed.
// FastAPI writes the reply with json.dumps (modules/api/api.py, `images: list[str]`, images first), whose
// base64 strings hold no escapes; anything unusual (an escape, another shape) takes the plain JSON.parse path.

export interface Img2imgReply {
  /** The first image's bytes, when the reply has one as a string. */
  readonly image?: Uint8Array;
  /** The reply less its images (`info`, `parameters`, …). */
  readonly fields: Record<string, unknown>;
}

/** How far into the reply the first image may start before the reader stops looking and parses it whole. */
const LOOKING_LIMIT = 64 * 1024;
const QUOTE = 0x22;

/**
 * Reads a reply chunk by chunk: the bytes up to the first image's opening quote, then that image decoded
 * as it comes, then the rest. `length` (the content-length, when sent) sizes the image buffer once.
 */
export class Img2imgReplyReader {
  /** Every chunk as it came, for the plain path when the reply is not as expected. */
  private readonly chunks: Buffer[] = [];
  private state: 'looking' | 'image' | 'rest' | 'plain' = 'looking';
  /** The reply up to and with the image's opening quote. */
  private head: Buffer = Buffer.alloc(0);
  private decoder?: Base64Decoder;
  /** The reply from the image's closing quote on. */
  private readonly rest: Buffer[] = [];

  constructor(private readonly length?: number) {}

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
    if (this.state === 'image') this.image(chunk);
    else if (this.state === 'rest') this.rest.push(chunk);
    else if (this.state === 'looking') this.look(chunk);
  }

  /** The reply split; throws SyntaxError when it is not JSON. */
  end(): Img2imgReply {
    const image = this.state === 'rest' ? this.decoder!.end() : undefined;
    const fields = image === undefined ? undefined : fieldsLessEmptyImage(`${this.head.toString('utf8')}${Buffer.concat(this.rest).toString('utf8')}`);
    return image !== undefined && fields !== undefined ? { image, fields } : readImg2imgReply(Buffer.concat(this.chunks));
  }

  private look(chunk: Buffer): void {
    const head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    const opening = firstStringOpening(head, 'images');
    if (opening === 'more') {
      this.head = head;
      if (head.length > LOOKING_LIMIT) this.state = 'plain';
      return;
    }
    if (opening === undefined) {
      this.state = 'plain';
      return;
    }
    this.head = head.subarray(0, opening);
    this.state = 'image';
    this.decoder = new Base64Decoder(this.length);
    this.image(head.subarray(opening));
  }

  private image(bytes: Buffer): void {
    const quote = bytes.indexOf(QUOTE);
    this.decoder!.write(quote < 0 ? bytes : bytes.subarray(0, quote));
    if (quote < 0) return;
    this.rest.push(bytes.subarray(quote));
    this.state = 'rest';
  }
}

/** Splits a whole reply body; throws SyntaxError when it is not JSON. */
export function readImg2imgReply(body: Buffer): Img2imgReply {
  const span = plainFirstStringSpan(body, 'images');
  const fields = span === undefined ? undefined : fieldsLessEmptyImage(withoutSpan(body, span));
  if (span !== undefined && fields !== undefined) return { image: Buffer.from(body.toString('latin1', span.start, span.end), 'base64'), fields };
  const { images, ...rest } = objectOf(JSON.parse(body.toString('utf8')) as unknown);
  const first = Array.isArray(images) ? images[0] : undefined;
  return { ...(typeof first === 'string' ? { image: Buffer.from(first, 'base64') } : {}), fields: rest };
}

/**
 * The fields of a reply whose first image was cut out, when what was cut was that image: the top-level
 * images' first element must now read "" (else the cut was elsewhere, say a nested "images" key).
 */
function fieldsLessEmptyImage(text: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { images, ...fields } = objectOf(parsed);
  return Array.isArray(images) && images[0] === '' ? fields : undefined;
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
