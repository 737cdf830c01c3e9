import { BackendError } from '../../errors.js';
import { leadingHex } from '../../formats/bytes.js';
import { pngPixelProblem, pngStructureProblem } from '../../images/png.js';
import { readImageHeader } from '../../images/sniff.js';
import type { Img2imgReply } from './img2img-reply.js';

// A1111's img2img answer, checked before a job may succeed with it: a PNG of the size asked for, whole.
// A1111 behind a broken proxy, with another samples_format or a full disk sends other things, and a job
// that "succeeds" with them hands the caller a file nothing can open. Every chunk's CRC is checked, which
// catches a cut or any changed byte on the way for about 0.4 ms at 1024²; reading the pixels as well
// (A1111_CHECK_PIXELS, images/png.ts pngPixelProblem) only adds bytes that an encoder got wrong under a
// valid CRC, and costs ~12 ms.

/** The image and what A1111's `info` says about the generation. */
export interface A1111Answer {
  readonly png: Uint8Array;
  /** The seed A1111 used (its `info.seed`), when it says. */
  readonly seed?: number;
  /** The checkpoint that ran (`info.sd_model_name`) and its short hash (`info.sd_model_hash`), when it says. */
  readonly model?: string;
  readonly modelHash?: string;
}

/** Reads the answer to an img2img call asking for `size`; throws a 502 (BACKEND_BAD_ANSWER) naming what came instead. */
export async function readImg2imgAnswer(reply: Img2imgReply, size: { readonly width: number; readonly height: number }, where: string, checkPixels: boolean): Promise<A1111Answer> {
  const png = reply.image;
  if (png === undefined) throw new BackendError(`${where} returned no image`, 'BACKEND_BAD_ANSWER');
  await checkPng(png, size, where, checkPixels);
  return { png, ...generationInfo(reply.fields['info']) };
}

async function checkPng(png: Uint8Array, size: { readonly width: number; readonly height: number }, where: string, checkPixels: boolean): Promise<void> {
  const header = readImageHeader(png);
  if ('problem' in header) {
    // An image signature whose header does not read is worth naming; anything else is just not an image.
    const why = header.code === 'IMAGE_UNREADABLE' ? `: ${header.problem}` : '';
    throw bad(`${where} returned something that is not an image (${bytesSummary(png)})${why}`);
  }
  const sent = `${header.width}×${header.height} ${header.format.toUpperCase()}`;
  if (header.format !== 'png') throw bad(`${where} returned a ${sent} (${bytesSummary(png)}), not a PNG (check its samples_format setting)`);
  if (header.width !== size.width || header.height !== size.height) {
    throw bad(`${where} returned a ${sent}, not the ${size.width}×${size.height} asked for (${bytesSummary(png)})`);
  }
  const damage = pngStructureProblem(png) ?? (checkPixels ? await pngPixelProblem(png) : undefined);
  if (damage !== undefined) throw bad(`${where} returned a ${sent} that does not decode (${bytesSummary(png)}; ${damage})`);
}

const bad = (message: string): BackendError => new BackendError(message, 'BACKEND_BAD_ANSWER');

function bytesSummary(bytes: Uint8Array): string {
  return `${bytes.length} bytes starting ${leadingHex(bytes)}`;
}

/** `info` is a JSON string from modules/processing.py Processed.js(). */
function generationInfo(info: unknown): Omit<A1111Answer, 'png'> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(String(info)) as Record<string, unknown>;
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const { seed, sd_model_name: model, sd_model_hash: modelHash } = parsed;
  return {
    ...(typeof seed === 'number' ? { seed } : {}),
    ...(typeof model === 'string' && model !== '' ? { model } : {}),
    ...(typeof modelHash === 'string' && modelHash !== '' ? { modelHash } : {}),
  };
}
