import { UserError } from '../errors.js';
import { roundHalfEven } from './rounding.js';

export interface LatentSizeRequest {
  readonly scale?: number | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
}

/**
 * The size a latent resize aims at, in latent cells: width and height as given, or the current size times
 * `scale`, rounded as ComfyUI's LatentUpscaleBy does (Python's round(), so 3 × 1.5 gives 4). The CLI and
 * POST /latents/resize both take it from here; the resize itself checks the bounds.
 */
export function latentTargetSize(current: { height: number; width: number }, request: LatentSizeRequest): { height: number; width: number } {
  const { scale, width, height } = request;
  if (scale !== undefined) {
    if (width !== undefined || height !== undefined) throw new UserError('give either scale or width and height, not both', 'INVALID_SIZE');
    if (!(scale > 0)) throw new UserError(`scale must be positive; got ${scale}`, 'INVALID_SIZE');
    return { height: roundHalfEven(current.height * scale), width: roundHalfEven(current.width * scale) };
  }
  if (width === undefined || height === undefined) throw new UserError('give width and height (latent cells), or scale', 'INVALID_SIZE');
  return { height, width };
}
