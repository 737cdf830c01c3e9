import { UserError } from '../errors.js';

export interface TargetSize {
  readonly width: number;
  readonly height: number;
  /** Set when the size had to change to reach a multiple of 8 (one latent cell). */
  readonly rounded?: { readonly requestedWidth: number; readonly requestedHeight: number };
}

const LATENT_CELL = 8;

/**
 * Output size in pixels: width/height as given or the input times `scale` (2 by default), each rounded to
 * the nearest multiple of 8 because A1111 and the VAE work on whole latent cells.
 */
export function targetSize(
  input: { width: number; height: number },
  request: { scale?: number | undefined; width?: number | undefined; height?: number | undefined },
  maxMegapixels: number,
): TargetSize {
  if (request.scale !== undefined && (request.width !== undefined || request.height !== undefined)) {
    throw new UserError('give either scale or width and height, not both', 'INVALID_SIZE');
  }
  if ((request.width === undefined) !== (request.height === undefined)) {
    throw new UserError('width and height go together; give both, or scale', 'INVALID_SIZE');
  }
  const scale = request.scale ?? 2;
  const requestedWidth = request.width ?? input.width * scale;
  const requestedHeight = request.height ?? input.height * scale;
  const width = Math.max(LATENT_CELL, Math.round(requestedWidth / LATENT_CELL) * LATENT_CELL);
  const height = Math.max(LATENT_CELL, Math.round(requestedHeight / LATENT_CELL) * LATENT_CELL);
  const megapixels = (width * height) / 1e6;
  if (megapixels > maxMegapixels) {
    throw new UserError(`output ${width}×${height} is ${megapixels.toFixed(2)} megapixels; the limit is ${maxMegapixels} (MAX_OUTPUT_MEGAPIXELS)`, 'OUTPUT_TOO_LARGE');
  }
  const exact = width === requestedWidth && height === requestedHeight;
  return exact ? { width, height } : { width, height, rounded: { requestedWidth, requestedHeight } };
}
