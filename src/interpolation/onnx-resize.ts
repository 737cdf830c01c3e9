/**
 * An ONNX `Resize` configuration (opset 18, https://onnx.ai/onnx/operators/onnx__Resize.html) that
 * computes a method as torch does, and the condition under which onnxruntime's kernel really does. The
 * conditions were found by running both over sizes 1–300 → 1–1024 (see test/engine/torch-parity.test.ts).
 */
export interface OnnxResize {
  readonly mode: 'nearest' | 'linear' | 'cubic';
  readonly coordinates: 'asymmetric' | 'half_pixel';
  readonly nearestMode?: 'floor' | 'round_prefer_ceil';
  readonly cubicA?: number;
  readonly antialias?: boolean;
  readonly excludeOutside?: boolean;
  /**
   * `always`: equal to float precision at every size. `same-cells`: a nearest mode, whose source cell
   * onnxruntime computes as i / (out/in) where torch computes i · (in/out) in float32; they disagree for
   * about 5 % of sizes, so the engine compares the cells it picks with the method's taps for each size.
   * `enlarging`: equal only when no axis shrinks.
   */
  readonly exact: 'always' | 'same-cells' | 'enlarging';
}

/** torch's nearest; also nearest-exact and area wherever they pick the same cells (integer factors). */
export const NEAREST_FLOOR: OnnxResize = { mode: 'nearest', coordinates: 'asymmetric', nearestMode: 'floor', exact: 'same-cells' };
