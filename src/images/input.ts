import sharp from 'sharp';
import { UserError } from '../errors.js';
import { pngPixelProblem, pngStructureProblem, readPngChunks } from './png.js';
import type { ImageInfo } from './sniff.js';

/** The image a job runs on: what the caller sent, or its oriented and flattened re-encoding. */
export interface InputImage {
  readonly bytes: Uint8Array;
  /** Size after orientation (EXIF orientations 5–8 swap width and height). */
  readonly info: ImageInfo;
  /** What was changed, for the parameters' notes; empty when the bytes are the caller's. */
  readonly adjustments: readonly string[];
}

/** EXIF orientations that are not the identity: 2–8. */
const isTurned = (orientation: number | undefined): boolean => orientation !== undefined && orientation > 1 && orientation <= 8;

/**
 * Decodes the whole image, so that a truncated or corrupt file is refused here, before any backend sees
 * it (A1111 would answer 500). An image with an EXIF orientation is turned upright, and one with alpha
 * is flattened onto `background`, as A1111 flattens img2img inputs onto img2img_background_color
 * (modules/images.py flatten); either way it is re-encoded as PNG. Anything else is passed on byte for
 * byte. `header` is the size read from the header, already checked against the limits.
 */
export async function readInputImage(bytes: Uint8Array, header: ImageInfo, background: string): Promise<InputImage> {
  try {
    const metadata = (header.format === 'png' ? pngLayout(bytes) : undefined) ?? (await sharp(bytes).metadata());
    const turned = isTurned(metadata.orientation);
    if (!turned && !metadata.hasAlpha) {
      await checkDecodes(bytes, header);
      return { bytes, info: header, adjustments: [] };
    }
    const { data, info } = await sharp(bytes).rotate().flatten({ background }).png({ compressionLevel: 3 }).toBuffer({ resolveWithObject: true });
    const adjustments = [
      ...(turned ? [`EXIF orientation ${metadata.orientation} applied: ${header.width}×${header.height} became ${info.width}×${info.height}`] : []),
      ...(metadata.hasAlpha ? [`alpha flattened onto ${background} (background_color)`] : []),
    ];
    return { bytes: new Uint8Array(data.buffer, data.byteOffset, data.length), info: { format: 'png', width: info.width, height: info.height }, adjustments };
  } catch (error) {
    if (error instanceof UserError) throw error;
    const damage = header.format === 'png' ? pngStructureProblem(bytes) : undefined;
    throw unreadable(header, `${damage ? `${damage}; ` : ''}${(error as Error).message}`);
  }
}

/**
 * What sharp's metadata would say of a PNG's alpha and orientation, read from its chunks (sharp takes
 * ~0.5 ms to say it): alpha is colour types 4 and 6 or a tRNS chunk (PNG spec §11.3.2.1). Undefined for a
 * PNG with an eXIf chunk, whose orientation sharp reads; a PNG has no other.
 */
function pngLayout(png: Uint8Array): { hasAlpha: boolean; orientation?: number } | undefined {
  const chunks = readPngChunks(png);
  if (chunks.some((chunk) => chunk.type === 'eXIf')) return undefined;
  const colour = chunks[0]?.type === 'IHDR' ? chunks[0].data[9] : undefined;
  return { hasAlpha: colour === 4 || colour === 6 || chunks.some((chunk) => chunk.type === 'tRNS') };
}

/** A PNG is read as a decoder reads it, less the unfiltering (half the time); JPEG and WebP are decoded. */
async function checkDecodes(bytes: Uint8Array, header: ImageInfo): Promise<void> {
  if (header.format !== 'png') {
    await sharp(bytes).raw().toBuffer();
    return;
  }
  const problem = pngStructureProblem(bytes) ?? (await pngPixelProblem(bytes));
  if (problem !== undefined) throw unreadable(header, problem);
}

function unreadable(header: ImageInfo, why: string): UserError {
  return new UserError(`image: the ${header.format.toUpperCase()} does not decode; it is truncated or corrupt (${why})`, 'IMAGE_UNREADABLE');
}
