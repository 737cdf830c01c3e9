import type { OnnxResize } from '../interpolation/onnx-resize.js';
import { GraphBuilder } from './onnx/graph-builder.js';
import type { AttributeValue, GraphSpec } from './onnx/model.js';

// A method that ONNX's Resize computes exactly runs as that one operator (onnxruntime's kernels are
// multithreaded and materialise nothing). The others run as one of three small graphs, which resample
// width first, then height, as torch's separable antialias kernel does; their taps arrive as inputs, so
// each graph is built and loaded once and serves every method, size and batch.

const LATENT_SHAPE = ['batch', 'channels', 'height', 'width'];
const OUTPUT_SHAPE = ['batch', 'channels', 'out_height', 'out_width'];

/** One Resize node; `sizes` is the int64 [N, C, H', W'] wanted. */
export function operatorResizeGraph(operator: OnnxResize): GraphSpec {
  const g = new GraphBuilder('operator_resize', 18);
  const attributes: Record<string, AttributeValue> = {
    mode: { string: operator.mode },
    coordinate_transformation_mode: { string: operator.coordinates },
    ...(operator.nearestMode === undefined ? {} : { nearest_mode: { string: operator.nearestMode } }),
    ...(operator.cubicA === undefined ? {} : { cubic_coeff_a: { float: operator.cubicA } }),
    antialias: { int: operator.antialias === true ? 1 : 0 },
    exclude_outside: { int: operator.excludeOutside === true ? 1 : 0 },
  };
  const y = g.op('Resize', ['x', '', '', 'sizes'], attributes);
  return g.build(
    [{ name: 'x', type: 'float32', shape: LATENT_SHAPE }, { name: 'sizes', type: 'int64', shape: [4] }],
    [{ name: 'y', from: y, type: 'float32', shape: OUTPUT_SHAPE }],
  );
}

/** One tap per output cell with weight 1 (the nearest modes): two Gathers, nothing to multiply or sum. */
export function gatherResizeGraph(): GraphSpec {
  const g = new GraphBuilder('gather_resize');
  const across = g.op('Gather', ['x', 'width_index'], { axis: { int: 3 } });
  const down = g.op('Gather', [across, 'height_index'], { axis: { int: 2 } });
  return g.build(
    [
      { name: 'x', type: 'float32', shape: LATENT_SHAPE },
      { name: 'width_index', type: 'int32', shape: ['out_width'] },
      { name: 'height_index', type: 'int32', shape: ['out_height'] },
    ],
    [{ name: 'y', from: down, type: 'float32', shape: OUTPUT_SHAPE }],
  );
}

/**
 * Weighted taps: out[…, i] = Σ_k w[i, k] · x[…, idx[i, k]] per axis, as Gather → Mul → ReduceSum.
 * Inputs: x [N,C,H,W]; width_index/width_weight [W', K]; height_index [H', K], height_weight [H', K, 1].
 */
export function weightedResizeGraph(): GraphSpec {
  const g = new GraphBuilder('weighted_resize');
  const widthTaps = g.op('Gather', ['x', 'width_index'], { axis: { int: 3 } }); // [N,C,H,W',Kw]
  const across = g.op('ReduceSum', [g.op('Mul', [widthTaps, 'width_weight']), g.int64s([4])], { keepdims: { int: 0 } });
  const heightTaps = g.op('Gather', [across, 'height_index'], { axis: { int: 2 } }); // [N,C,H',Kh,W']
  const down = g.op('ReduceSum', [g.op('Mul', [heightTaps, 'height_weight']), g.int64s([3])], { keepdims: { int: 0 } });
  return g.build(
    [
      { name: 'x', type: 'float32', shape: LATENT_SHAPE },
      { name: 'width_index', type: 'int32', shape: ['out_width', 'width_taps'] },
      { name: 'width_weight', type: 'float32', shape: ['out_width', 'width_taps'] },
      { name: 'height_index', type: 'int32', shape: ['out_height', 'height_taps'] },
      { name: 'height_weight', type: 'float32', shape: ['out_height', 'height_taps', 1] },
    ],
    [{ name: 'y', from: down, type: 'float32', shape: OUTPUT_SHAPE }],
  );
}

/**
 * ComfyUI bislerp: per axis, gather the left and right cell of each pair and slerp their channel
 * vectors by the pair's ratio (comfyanonymous/ComfyUI comfy/utils.py bislerp and slerp, edge cases included).
 * Inputs: x; width_left/width_right [W'], width_ratio [W']; height_left/height_right [H'], height_ratio [H', 1].
 */
export function slerpResizeGraph(): GraphSpec {
  const g = new GraphBuilder('slerp_resize');
  const slerpAlong = (input: string, axis: number, left: string, right: string, ratio: string): string =>
    slerp(g, g.op('Gather', [input, left], { axis: { int: axis } }), g.op('Gather', [input, right], { axis: { int: axis } }), ratio);
  const across = slerpAlong('x', 3, 'width_left', 'width_right', 'width_ratio');
  const down = slerpAlong(across, 2, 'height_left', 'height_right', 'height_ratio');
  return g.build(
    [
      { name: 'x', type: 'float32', shape: LATENT_SHAPE },
      { name: 'width_left', type: 'int32', shape: ['out_width'] },
      { name: 'width_right', type: 'int32', shape: ['out_width'] },
      { name: 'width_ratio', type: 'float32', shape: ['out_width'] },
      { name: 'height_left', type: 'int32', shape: ['out_height'] },
      { name: 'height_right', type: 'int32', shape: ['out_height'] },
      { name: 'height_ratio', type: 'float32', shape: ['out_height', 1] },
    ],
    [{ name: 'y', from: down, type: 'float32', shape: OUTPUT_SHAPE }],
  );
}

/** slerp(b1, b2, r) over the channel axis (1), with ComfyUI's norm lerp and its two edge-case overrides. */
function slerp(g: GraphBuilder, b1: string, b2: string, r: string): string {
  const channelAxis = g.int64s([1]);
  const zero = g.floats([0]);
  const one = g.floats([1]);
  const norm = (b: string): string => g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [b, b]), channelAxis], { keepdims: { int: 1 } })]);
  const unit = (b: string, n: string): string => g.op('Where', [g.op('Equal', [n, zero]), zero, g.op('Div', [b, n])]);
  const n1 = norm(b1);
  const n2 = norm(b2);
  const u1 = unit(b1, n1);
  const u2 = unit(b2, n2);
  const dot = g.op('ReduceSum', [g.op('Mul', [u1, u2]), channelAxis], { keepdims: { int: 1 } });
  const omega = g.op('Acos', [dot]);
  const sinOmega = g.op('Sin', [omega]);
  const rest = g.op('Sub', [one, r]);
  const coefficient = (t: string): string => g.op('Div', [g.op('Sin', [g.op('Mul', [t, omega])]), sinOmega]);
  const direction = g.op('Add', [g.op('Mul', [coefficient(rest), u1]), g.op('Mul', [coefficient(r), u2])]);
  const normLerp = g.op('Add', [g.op('Mul', [n1, rest]), g.op('Mul', [n2, r])]);
  const slerped = g.op('Mul', [direction, normLerp]);
  const lerped = g.op('Add', [g.op('Mul', [b1, rest]), g.op('Mul', [b2, r])]);
  const parallel = g.op('Greater', [dot, g.floats([1 - 1e-5])]);
  const opposite = g.op('Less', [dot, g.floats([1e-5 - 1])]);
  return g.op('Where', [opposite, lerped, g.op('Where', [parallel, b1, slerped])]);
}
