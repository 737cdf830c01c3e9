import sharp from 'sharp';
import { seededRandom } from '../../src/random/mulberry32.js';

/**
 * A PNG that compresses like a photo: smooth colour fields under per-pixel noise, encoded with libpng's
 * adaptive filters (as A1111's PIL does), about 1.5–1.9 bytes a pixel like a photo (a 512² photo PNG is
 * ~0.4 MB, a 1024² one ~1.9 MB), where the gradients tests use compress a hundredfold and make every
 * byte-moving cost look small.
 */
export async function photoLikePng(width: number, height: number, seed: number): Promise<Uint8Array> {
  const noise = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const smooth = [128 + 90 * Math.sin(x / 53 + seed), 128 + 90 * Math.cos(y / 41), 128 + 60 * Math.sin((x + y) / 97)];
      smooth.forEach((base, c) => (pixels[(y * width + x) * 3 + c] = Math.round(base + (noise() - 0.5) * NOISE_LEVELS)));
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png({ adaptiveFiltering: true }).toBuffer();
}

const NOISE_LEVELS = 12;
