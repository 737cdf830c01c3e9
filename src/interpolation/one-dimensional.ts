import { buildTaps, type Tap, type Taps } from './taps.js';
import { clampIndex, cubicFar, cubicKernel, cubicNear, guardIndexAndLambda, halfPixelSource, torchScale } from './torch-coordinates.js';

// The 1-D taps of every torch.nn.functional.interpolate mode (align_corners=False, explicit size), each
// following the CPU kernel's index and weight rules (pytorch aten/src/ATen/native/UpSample.h
// area_pixel_compute_source_index and its nearest/cubic helpers, cpu/UpSampleKernel.cpp for antialias,
// AdaptivePooling.h for area), plus ComfyUI's bislerp pairs (comfy/utils.py generate_bilinear_data).
const f32 = Math.fround;

/** mode="nearest": src = min(floor(i·scale), in−1), OpenCV's INTER_NEAREST that torch keeps for BC. */
export function nearestTaps(inputLength: number, outputLength: number): Taps {
  const scale = torchScale(inputLength, outputLength);
  return buildTaps(inputLength, outputLength, (i) => [
    { index: Math.min(Math.floor(f32(scale * i)), inputLength - 1), weight: 1 },
  ]);
}

/** mode="nearest-exact": the half-pixel centre rounded half up, as Pillow and scipy.ndimage.zoom do. */
export function nearestExactTaps(inputLength: number, outputLength: number): Taps {
  const scale = torchScale(inputLength, outputLength);
  return buildTaps(inputLength, outputLength, (i) => [
    { index: Math.min(Math.floor(f32(halfPixelSource(scale, i, false) + 0.5)), inputLength - 1), weight: 1 },
  ]);
}

/** mode="bilinear" (per axis: linear), source clamped at 0 and at the last cell. */
export function linearTaps(inputLength: number, outputLength: number): Taps {
  return buildTaps(inputLength, outputLength, (i) => {
    const { index0, index1, lambda } = linearPair(inputLength, outputLength, i);
    return [{ index: index0, weight: f32(1 - lambda) }, { index: index1, weight: lambda }];
  });
}

/** mode="bicubic": Keys cubic with A=−0.75, unclamped source, border cells replicated. */
export function cubicTaps(inputLength: number, outputLength: number): Taps {
  const scale = torchScale(inputLength, outputLength);
  return buildTaps(inputLength, outputLength, (i) => {
    const { index, lambda } = guardIndexAndLambda(halfPixelSource(scale, i, true), inputLength);
    const rest = f32(1 - lambda);
    const weights = [cubicFar(f32(lambda + 1), -0.75), cubicNear(lambda, -0.75), cubicNear(rest, -0.75), cubicFar(f32(rest + 1), -0.75)];
    return weights.map((weight, j) => ({ index: clampIndex(index - 1 + j, inputLength), weight }));
  });
}

/** mode="area" = adaptive_avg_pool: mean over [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), exact integer bounds. */
export function areaTaps(inputLength: number, outputLength: number): Taps {
  return buildTaps(inputLength, outputLength, (i) => {
    const start = Math.floor((i * inputLength) / outputLength);
    const end = Math.ceil(((i + 1) * inputLength) / outputLength);
    return Array.from({ length: end - start }, (_, k) => ({ index: start + k, weight: f32(1 / (end - start)) }));
  });
}

/** antialias=True with a triangle filter (Pillow's bilinear): support widens by in/out when downscaling. */
export function antialiasedLinearTaps(inputLength: number, outputLength: number): Taps {
  return antialiasedTaps(inputLength, outputLength, 2, (x) => {
    const distance = Math.abs(x);
    return distance < 1 ? f32(1 - distance) : 0;
  });
}

/** antialias=True with Keys cubic A=−0.5 (Pillow's bicubic), taps outside the input dropped and renormalised. */
export function antialiasedCubicTaps(inputLength: number, outputLength: number): Taps {
  return antialiasedTaps(inputLength, outputLength, 4, (x) => cubicKernel(x, -0.5));
}

function antialiasedTaps(inputLength: number, outputLength: number, interpolationSize: number, filter: (x: number) => number): Taps {
  const scale = torchScale(inputLength, outputLength);
  const support = scale >= 1 ? f32(interpolationSize * 0.5 * scale) : interpolationSize * 0.5;
  const inverseScale = scale >= 1 ? f32(1 / scale) : 1;
  const maxTaps = Math.ceil(support) * 2 + 1;
  return buildTaps(inputLength, outputLength, (i) => {
    const center = f32(scale * (i + 0.5));
    const first = Math.max(Math.trunc(f32(center - support) + 0.5), 0);
    const size = Math.min(Math.max(Math.min(Math.trunc(f32(center + support) + 0.5), inputLength) - first, 0), maxTaps);
    const raw = Array.from({ length: size }, (_, j) => filter(f32((f32(j + first - center) + 0.5) * inverseScale)));
    const total = raw.reduce((sum, w) => f32(sum + w), 0);
    return raw.map((w, j): Tap => ({ index: first + j, weight: total === 0 ? w : f32(w / total) }));
  });
}

/**
 * ComfyUI's bislerp pairs: generate_bilinear_data runs torch bilinear over arange(in) to get the left cell
 * and the fraction, and over arange(in)+1 (last entry pulled back) to get the right cell. Encoded as
 * taps (left, 1−r), (right, r); the engine slerps the channel vectors of the two cells by r.
 */
export function bislerpPairs(inputLength: number, outputLength: number): Taps {
  const shifted = (j: number): number => (j < inputLength - 1 ? j + 1 : inputLength - 1);
  return buildTaps(inputLength, outputLength, (i) => {
    const { index0, index1, lambda } = linearPair(inputLength, outputLength, i);
    const weight0 = f32(1 - lambda);
    const left = f32(f32(weight0 * index0) + f32(lambda * index1));
    const right = f32(f32(weight0 * shifted(index0)) + f32(lambda * shifted(index1)));
    const ratio = f32(left - Math.floor(left));
    return [{ index: Math.trunc(left), weight: f32(1 - ratio) }, { index: Math.trunc(right), weight: ratio }];
  });
}

/** compute_source_index_and_lambda: the two neighbours and the weight of the right one. */
function linearPair(inputLength: number, outputLength: number, i: number): { index0: number; index1: number; lambda: number } {
  if (inputLength === outputLength) return { index0: i, index1: i, lambda: 0 };
  const { index, lambda } = guardIndexAndLambda(halfPixelSource(torchScale(inputLength, outputLength), i, false), inputLength);
  return { index0: index, index1: index < inputLength - 1 ? index + 1 : index, lambda };
}
