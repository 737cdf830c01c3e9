// torch's CPU upsample kernels (aten/src/ATen/native/UpSample.h, cpu/UpSampleKernel.cpp) do their index
// arithmetic in float32. Reproducing that rounding step by step is what makes floor() land on the same
// input cell as torch at exact boundaries (e.g. 1.5 × float32(2/3) is 1.0000000298, not 0.99999...).
const f32 = Math.fround;

/** area_pixel_compute_scale with align_corners=False and an explicit size: in/out as float32. */
export function torchScale(inputLength: number, outputLength: number): number {
  return f32(inputLength / outputLength);
}

/** area_pixel_compute_source_index(scale, i, align_corners=False, cubic): half-pixel centre; clamped at 0 unless cubic. */
export function halfPixelSource(scale: number, outputIndex: number, cubic: boolean): number {
  const source = f32(f32(scale * f32(outputIndex + 0.5)) - 0.5);
  return !cubic && source < 0 ? 0 : source;
}

/** guard_index_and_lambda: the cell at or below the source coordinate and the fraction past it. */
export function guardIndexAndLambda(source: number, inputLength: number): { index: number; lambda: number } {
  const index = Math.min(Math.floor(source), inputLength - 1);
  return { index, lambda: Math.min(Math.max(f32(source - index), 0), 1) };
}

export function clampIndex(index: number, inputLength: number): number {
  return Math.max(0, Math.min(index, inputLength - 1));
}

/** Keys' cubic convolution kernel for |x| ≤ 1 and 1 < |x| < 2 (get_cubic_upsample_coefficients). */
export function cubicNear(x: number, a: number): number {
  return f32(f32(f32(f32(f32((a + 2) * x) - (a + 3)) * x) * x) + 1);
}

export function cubicFar(x: number, a: number): number {
  return f32(f32(f32(f32(f32(f32(a * x) - 5 * a) * x) + 8 * a) * x) - 4 * a);
}

export function cubicKernel(x: number, a: number): number {
  const distance = Math.abs(x);
  if (distance < 1) return cubicNear(distance, a);
  if (distance < 2) return cubicFar(distance, a);
  return 0;
}
