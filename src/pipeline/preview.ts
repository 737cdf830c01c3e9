import type { RgbImage } from '../images/decode.js';
import type { PreviewFactors } from '../models/families.js';
import type { Planar } from './tiles.js';

/**
 * A1111's "Approx cheap" preview of a latent: each cell's channels mapped linearly to RGB in [−1, 1],
 * then to 8-bit as A1111's single_sample_to_image does (·0.5 + 0.5, clipped, ·255, truncated by
 * astype(uint8); modules/sd_samplers_common.py). One pixel per latent cell.
 */
export function cheapPreview(latent: Planar, factors: PreviewFactors): RgbImage {
  const { width, height, data } = latent;
  const cells = width * height;
  const pixels = new Uint8Array(cells * 3);
  for (let i = 0; i < cells; i++) {
    for (let c = 0; c < 3; c++) {
      let value = 0;
      for (let channel = 0; channel < factors.length; channel++) value += data[channel * cells + i]! * factors[channel]![c]!;
      pixels[i * 3 + c] = Math.trunc(Math.min(Math.max(value * 0.5 + 0.5, 0), 1) * 255);
    }
  }
  return { width, height, pixels };
}

/** Whether sampling step `step` of `steps` shows a preview: every `every` steps, never the last (the result follows). */
export function isPreviewStep(step: number, steps: number, every: number): boolean {
  return step < steps && step % every === 0;
}
