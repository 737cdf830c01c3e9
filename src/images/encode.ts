import sharp from 'sharp';

/**
 * 8-bit interleaved RGB pixels as a PNG, encoded on libvips' thread pool: a 4-megapixel output no longer
 * holds the event loop for the ~0.3 s that a synchronous deflate took (images/png.ts's encoder, which
 * stays for small synthetic images in tests and warm-up).
 */
export async function encodeRgbPixelsOffThread(width: number, height: number, pixels: Uint8Array): Promise<Uint8Array> {
  const png = await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}

/** Live previews: a JPEG (quality 80), a few kilobytes even at 1024², also on libvips' thread pool. */
export const PREVIEW_MIME = 'image/jpeg';

export async function encodePreview(width: number, height: number, pixels: Uint8Array): Promise<Uint8Array> {
  const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.length);
}
