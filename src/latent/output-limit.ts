import { UserError } from '../errors.js';

/** A latent cell stands for 8×8 pixels (the SD VAE's downscale factor). */
const PIXELS_PER_CELL = 64;
/** Channels × batch a resize may carry at the full cell limit: SD3/Flux latents have 16 channels. */
const MAX_PLANES_AT_LIMIT = 16;

/**
 * The service resizes no latent larger than the image it would stand for: MAX_OUTPUT_MEGAPIXELS in latent
 * cells per plane, and that many cells times 16 planes in all (batch × channels), so a tiny file cannot
 * ask for gigabytes.
 */
export function checkLatentOutput(shape: readonly [number, number, number, number], maxOutputMegapixels: number): void {
  const [batch, channels, height, width] = shape;
  const maxCells = Math.floor((maxOutputMegapixels * 1e6) / PIXELS_PER_CELL);
  const cells = height * width;
  if (cells > maxCells) {
    throw new UserError(`output latent ${height}×${width} is ${cells} cells; the limit is ${maxCells} (MAX_OUTPUT_MEGAPIXELS ${maxOutputMegapixels} in cells of 8×8 pixels)`, 'LATENT_TOO_LARGE');
  }
  if (batch * channels * cells > maxCells * MAX_PLANES_AT_LIMIT) {
    throw new UserError(`output latent [${shape.join(', ')}] has ${batch * channels * cells} values; the limit is ${maxCells * MAX_PLANES_AT_LIMIT} (${MAX_PLANES_AT_LIMIT} planes of the MAX_OUTPUT_MEGAPIXELS cell limit)`, 'LATENT_TOO_LARGE');
  }
}
