import { unknownName } from '../errors.js';
import {
  antialiasedCubicTaps, antialiasedLinearTaps, areaTaps, bislerpPairs, cubicTaps, linearTaps, nearestExactTaps, nearestTaps,
} from './one-dimensional.js';
import { NEAREST_FLOOR, type OnnxResize } from './onnx-resize.js';
import type { Taps } from './taps.js';

/**
 * How a method combines the two axes' taps: `weighted` sums input cells (every torch mode), `slerp`
 * spherically interpolates each pixel's channel vector between the two cells of a pair (bislerp).
 */
export type Combine = 'weighted' | 'slerp';

export interface UpscaleMethod {
  readonly name: string;
  readonly description: string;
  readonly combine: Combine;
  /** Set on names kept for the extension's list that mean another method here. */
  readonly aliasOf?: string;
  readonly taps: (inputLength: number, outputLength: number) => Taps;
  /**
   * ONNX Resize configurations that compute the same thing, fastest first; the engine runs the first that
   * applies at the sizes asked for, and otherwise applies the taps itself.
   */
  readonly operators?: readonly OnnxResize[];
}

const bilinear = {
  combine: 'weighted',
  taps: linearTaps,
  operators: [{ mode: 'linear', coordinates: 'half_pixel', exact: 'always' }],
} as const;

/** Names exactly as the A1111 extension spells them, plus ComfyUI's bislerp; order is the docs' order. */
export const UPSCALE_METHODS: readonly UpscaleMethod[] = [
  { name: 'nearest', description: 'torch "nearest": floor(i·in/out); blocky, shifted toward the top-left; crisp detail', combine: 'weighted', taps: nearestTaps, operators: [NEAREST_FLOOR] },
  { name: 'nearest-exact', description: 'torch "nearest-exact": pixel-centre nearest (Pillow/scipy); blocky, centred; the extension\'s crispest pick', combine: 'weighted', taps: nearestExactTaps, // At integer factors nearest-exact picks floor(i / k), as nearest does, and onnxruntime's
    // asymmetric-floor kernel has a fast path there (5× its half-pixel one at 2×).
    operators: [NEAREST_FLOOR, { mode: 'nearest', coordinates: 'half_pixel', nearestMode: 'round_prefer_ceil', exact: 'same-cells' }] },
  { name: 'bilinear', description: 'torch "bilinear" (A1111\'s built-in latent upscale): smooth, often blurry after denoising', ...bilinear },
  { name: 'bilinear-antialiased', description: 'bilinear with antialias=True: same as bilinear when enlarging, smoother when shrinking', combine: 'weighted', taps: antialiasedLinearTaps, operators: [{ mode: 'linear', coordinates: 'half_pixel', antialias: true, excludeOutside: true, exact: 'always' }] },
  { name: 'bicubic', description: 'torch "bicubic" (A=-0.75, replicated borders): sharper than bilinear, can overshoot', combine: 'weighted', taps: cubicTaps,
    // onnxruntime's plain cubic kernel is ~15x slower than torch; its antialias kernel applies the same
    // filter with the borders replicated, and differs only where an axis shrinks.
    operators: [{ mode: 'cubic', coordinates: 'half_pixel', cubicA: -0.75, antialias: true, exact: 'enlarging' }] },
  { name: 'bicubic-antialiased', description: 'bicubic with antialias=True (Pillow\'s A=-0.5): softer than bicubic, fewer halos', combine: 'weighted', taps: antialiasedCubicTaps, operators: [{ mode: 'cubic', coordinates: 'half_pixel', cubicA: -0.5, antialias: true, excludeOutside: true, exact: 'always' }] },
  { name: 'area', description: 'torch "area" (adaptive average pool): equals nearest for integer factors; averages when shrinking', combine: 'weighted', taps: areaTaps, operators: [NEAREST_FLOOR] },
  { name: 'bislerp', description: 'ComfyUI bislerp: slerps channel vectors between bilinear neighbours; keeps latent magnitude', combine: 'slerp', taps: bislerpPairs },
  { name: 'linear', description: 'alias of bilinear (the extension lists it but torch rejects it on 4-D latents)', aliasOf: 'bilinear', ...bilinear },
  { name: 'trilinear', description: 'alias of bilinear (the extension lists it but torch rejects it on 4-D latents)', aliasOf: 'bilinear', ...bilinear },
];

export const UPSCALE_METHOD_NAMES: readonly string[] = UPSCALE_METHODS.map((m) => m.name);

export function upscaleMethod(name: string): UpscaleMethod {
  const method = UPSCALE_METHODS.find((m) => m.name === name);
  if (method === undefined) throw unknownName('method', name, UPSCALE_METHOD_NAMES, 'UNKNOWN_METHOD');
  return method;
}
