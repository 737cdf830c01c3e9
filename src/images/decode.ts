import sharp from 'sharp';
import { UserError } from '../errors.js';

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Interleaved 8-bit RGB, row by row. */
  readonly pixels: Uint8Array;
}

/**
 * PNG, JPEG or WebP to 8-bit RGB, for the onnx pipeline. Job inputs arrive upright and flattened
 * (images/input.ts does that at submit); alpha is removed here only because the pipeline takes 3 channels.
 */
export async function decodeImage(bytes: Uint8Array): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new UserError(`image: cannot decode (${(error as Error).message})`, 'IMAGE_UNREADABLE');
  }
}
