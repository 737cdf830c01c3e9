import ort from 'onnxruntime-node';
import { upscaleMethod, type UpscaleMethod } from '../interpolation/methods.js';
import type { OnnxResize } from '../interpolation/onnx-resize.js';
import type { Taps } from '../interpolation/taps.js';
import { checkOutputElements, checkTargetSize, latent, type Latent } from '../latent/tensor.js';
import { gatherResizeGraph, operatorResizeGraph, slerpResizeGraph, weightedResizeGraph } from './resize-graphs.js';
import type { ExecutionProvider, LoadedSession, SessionPool } from './session-pool.js';

export interface ResizeResult {
  readonly latent: Latent;
  readonly provider: ExecutionProvider;
  readonly fallbacks: readonly string[];
}

/** Resizes a latent to height × width latent cells with a registered method, on onnxruntime. */
export async function resizeLatent(pool: SessionPool, input: Latent, methodName: string, height: number, width: number): Promise<ResizeResult> {
  const method = upscaleMethod(methodName);
  checkTargetSize(height, width);
  const [batch, channels, inputHeight, inputWidth] = input.shape;
  checkOutputElements(batch, channels, height, width);
  const x = new ort.Tensor('float32', input.data, [...input.shape]);
  const { loaded, feeds } = await plan(pool, method, x, { inputLength: inputWidth, outputLength: width }, { inputLength: inputHeight, outputLength: height });
  const { y } = await loaded.session.run(feeds);
  const data = y!.data as Float32Array;
  y!.dispose();
  return { latent: latent([batch, channels, height, width], data), provider: loaded.provider, fallbacks: loaded.fallbacks };
}

interface Plan {
  readonly loaded: LoadedSession;
  readonly feeds: Record<string, ort.Tensor>;
}

interface Axis {
  readonly inputLength: number;
  readonly outputLength: number;
}

/**
 * The fastest graph that computes the method exactly at these sizes: an ONNX operator where one applies,
 * else the taps. Taps are only worked out where they are needed (a verdict not yet cached, or the graphs).
 */
async function plan(pool: SessionPool, method: UpscaleMethod, x: ort.Tensor, across: Axis, down: Axis): Promise<Plan> {
  const tapsOf = (axis: Axis): AxisWithTaps => {
    let taps: Taps | undefined;
    return { ...axis, key: `${method.name} ${axis.inputLength}->${axis.outputLength}`, taps: () => (taps ??= method.taps(axis.inputLength, axis.outputLength)) };
  };
  const [wideAxis, tallAxis] = [tapsOf(across), tapsOf(down)];
  for (const operator of method.operators ?? []) {
    const loaded = await pool.get(operatorKey(operator), () => operatorResizeGraph(operator));
    if (await operatorApplies(pool, loaded, operator, wideAxis, tallAxis)) {
      return { loaded, feeds: { x, sizes: sizesTensor([x.dims[0]!, x.dims[1]!, down.outputLength, across.outputLength]) } };
    }
  }
  const [wide, tall] = [wideAxis.taps(), tallAxis.taps()];
  if (method.combine === 'slerp') return { loaded: await pool.get('slerp_resize', slerpResizeGraph), feeds: slerpFeeds(x, wide, tall) };
  if (isSingleCell(wide) && isSingleCell(tall)) return { loaded: await pool.get('gather_resize', gatherResizeGraph), feeds: gatherFeeds(x, wide, tall) };
  return { loaded: await pool.get('weighted_resize', weightedResizeGraph), feeds: weightedFeeds(x, wide, tall) };
}

function operatorKey(operator: OnnxResize): string {
  return `operator_resize ${JSON.stringify(operator)}`;
}

/** An axis with the method's taps for it, worked out on first use, and a key naming both. */
interface AxisWithTaps extends Axis {
  readonly key: string;
  readonly taps: () => Taps;
}

async function operatorApplies(pool: SessionPool, loaded: LoadedSession, operator: OnnxResize, ...axes: AxisWithTaps[]): Promise<boolean> {
  switch (operator.exact) {
    case 'always': return true;
    case 'enlarging': return axes.every((axis) => axis.outputLength >= axis.inputLength);
    case 'same-cells': {
      for (const axis of axes) if (!(await picksSameCells(pool, loaded, operator, axis))) return false;
      return true;
    }
  }
}

// Verdicts per pool (each pool's sessions may run on another provider), operator, method and axis size; the
// number of distinct sizes a service sees is small, and the bound only guards against a caller cycling them.
const cellVerdicts = new WeakMap<SessionPool, Map<string, Promise<boolean>>>();
const MAX_VERDICTS = 4096;

/** Runs the operator over a ramp 0, 1, …, in−1: its output is the cell it picks for each output position. */
function picksSameCells(pool: SessionPool, loaded: LoadedSession, operator: OnnxResize, axis: AxisWithTaps): Promise<boolean> {
  const verdicts = cellVerdicts.get(pool) ?? new Map<string, Promise<boolean>>();
  cellVerdicts.set(pool, verdicts);
  const key = `${operatorKey(operator)} ${axis.key}`;
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdict = sameCells(loaded, axis.taps());
    verdict.catch(() => verdicts.delete(key));
    verdicts.set(key, verdict);
  }
  return verdict;
}

async function sameCells(loaded: LoadedSession, taps: Taps): Promise<boolean> {
  if (!isSingleCell(taps)) return false;
  const ramp = new ort.Tensor('float32', Float32Array.from({ length: taps.inputLength }, (_, i) => i), [1, 1, 1, taps.inputLength]);
  const { y } = await loaded.session.run({ x: ramp, sizes: sizesTensor([1, 1, 1, taps.outputLength]) });
  return (y!.data as Float32Array).every((cell, i) => cell === taps.indices[i]);
}

function isSingleCell(taps: Taps): boolean {
  return taps.count === 1 && taps.weights.every((w) => w === 1);
}

function sizesTensor(dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(dims.map(BigInt)), [dims.length]);
}

function gatherFeeds(x: ort.Tensor, across: Taps, down: Taps): Record<string, ort.Tensor> {
  return {
    x,
    width_index: new ort.Tensor('int32', across.indices, [across.outputLength]),
    height_index: new ort.Tensor('int32', down.indices, [down.outputLength]),
  };
}

function weightedFeeds(x: ort.Tensor, across: Taps, down: Taps): Record<string, ort.Tensor> {
  return {
    x,
    width_index: new ort.Tensor('int32', across.indices, [across.outputLength, across.count]),
    width_weight: new ort.Tensor('float32', across.weights, [across.outputLength, across.count]),
    height_index: new ort.Tensor('int32', down.indices, [down.outputLength, down.count]),
    height_weight: new ort.Tensor('float32', down.weights, [down.outputLength, down.count, 1]),
  };
}

/** Bislerp taps are pairs (left, 1−r), (right, r): split them into the graph's left/right/ratio inputs. */
function slerpFeeds(x: ort.Tensor, across: Taps, down: Taps): Record<string, ort.Tensor> {
  const column = (taps: Taps, k: number): Int32Array => taps.indices.filter((_, i) => i % 2 === k);
  const ratio = (taps: Taps): Float32Array => taps.weights.filter((_, i) => i % 2 === 1);
  return {
    x,
    width_left: new ort.Tensor('int32', column(across, 0), [across.outputLength]),
    width_right: new ort.Tensor('int32', column(across, 1), [across.outputLength]),
    width_ratio: new ort.Tensor('float32', ratio(across), [across.outputLength]),
    height_left: new ort.Tensor('int32', column(down, 0), [down.outputLength]),
    height_right: new ort.Tensor('int32', column(down, 1), [down.outputLength]),
    height_ratio: new ort.Tensor('float32', ratio(down), [down.outputLength, 1]),
  };
}
