import { BackendError } from '../../errors.js';
import { leadingHex } from '../../formats/bytes.js';
import sharp from 'sharp';
import { getPngText, pngPixelProblem, pngStructureProblem } from '../../images/png.js';
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
  /** A1111's own infotext of the image (`info.infotexts[0]`, else the PNG's parameters chunk). */
  readonly infotext?: string;
  /** What was done to the image A1111 sent, for the parameters' notes (another format converted to PNG). */
  readonly notes: readonly string[];
}

/** Reads the answer to an img2img call asking for `size`; throws a 502 (BACKEND_BAD_ANSWER) naming what came instead. */
export async function readImg2imgAnswer(reply: Img2imgReply, size: { readonly width: number; readonly height: number }, where: string, checkPixels: boolean): Promise<A1111Answer> {
  const image = reply.image;
  if (image === undefined) throw new BackendError(`${where} returned no image`, 'BACKEND_BAD_ANSWER');
  const { png, notes } = await asPng(image, size, where, checkPixels);
  const info = generationInfo(reply.fields['info']);
  const infotext = info.infotext ?? getPngText(png, 'parameters');
  return { png, ...info, ...(infotext !== undefined ? { infotext } : {}), notes };
}

/**
 * The image as a checked PNG. A1111 encodes its reply in the instance's own samples_format: it restores
 * overridden settings when process_images returns, before the API encodes the images (modules/processing.py
 * process_images, modules/api/api.py img2imgapi and encode_pil_to_base64), so a jpg or webp instance sends
 * JPEG or WebP whatever samples_format we asked for. Those are decoded and re-encoded as PNG.
 */
async function asPng(image: Uint8Array, size: { readonly width: number; readonly height: number }, where: string, checkPixels: boolean): Promise<{ png: Uint8Array; notes: string[] }> {
  const header = readImageHeader(image);
  if ('problem' in header) {
    // An image signature whose header does not read is worth naming; anything else is just not an image.
    const why = header.code === 'IMAGE_UNREADABLE' ? `: ${header.problem}` : '';
    throw bad(`${where} returned something that is not an image (${bytesSummary(image)})${why}`);
  }
  const sent = `${header.width}×${header.height} ${header.format.toUpperCase()}`;
  if (header.width !== size.width || header.height !== size.height) {
    throw bad(`${where} returned a ${sent}, not the ${size.width}×${size.height} asked for (${bytesSummary(image)})`);
  }
  if (header.format === 'png') {
    await checkPng(image, sent, where, checkPixels);
    return { png: image, notes: [] };
  }
  try {
    const png = await sharp(image, { failOn: 'warning' }).png().toBuffer();
    return { png, notes: [`A1111 sent a ${header.format.toUpperCase()} (its samples_format); converted to PNG`] };
  } catch (error) {
    throw bad(`${where} returned a ${sent} that does not decode (${bytesSummary(image)}): ${(error as Error).message}`);
  }
}

async function checkPng(png: Uint8Array, sent: string, where: string, checkPixels: boolean): Promise<void> {
  const damage = pngStructureProblem(png) ?? (checkPixels ? await pngPixelProblem(png) : undefined);
  if (damage !== undefined) throw bad(`${where} returned a ${sent} that does not decode (${bytesSummary(png)}; ${damage})`);
}

const bad = (message: string): BackendError => new BackendError(message, 'BACKEND_BAD_ANSWER');

function bytesSummary(bytes: Uint8Array): string {
  return `${bytes.length} bytes starting ${leadingHex(bytes)}`;
}

/** `info` is a JSON string from modules/processing.py Processed.js(). */
function generationInfo(info: unknown): Omit<A1111Answer, 'png' | 'notes'> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(String(info)) as Record<string, unknown>;
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const { seed, sd_model_name: model, sd_model_hash: modelHash, infotexts } = parsed;
  const infotext = Array.isArray(infotexts) && typeof infotexts[0] === 'string' ? infotexts[0] : undefined;
  return {
    ...(infotext !== undefined ? { infotext } : {}),
    ...(typeof seed === 'number' ? { seed } : {}),
    ...(typeof model === 'string' && model !== '' ? { model } : {}),
    ...(typeof modelHash === 'string' && modelHash !== '' ? { modelHash } : {}),
  };
}
