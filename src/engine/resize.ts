import ort from 'onnxruntime-node';
import { upscaleMethod } from '../interpolation/methods.js';
import type { Taps } from '../interpolation/taps.js';
import { checkOutputElements, checkTargetSize, latent, type Latent } from '../latent/tensor.js';
import { slerpResizeGraph, weightedResizeGraph } from './resize-graphs.js';
import type { ExecutionProvider, SessionPool } from './session-pool.js';

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
  const widthTaps = method.taps(inputWidth, width);
  const heightTaps = method.taps(inputHeight, height);
  const x = new ort.Tensor('float32', input.data, [...input.shape]);
  const [feeds, loaded] = method.combine === 'weighted'
    ? [weightedFeeds(x, widthTaps, heightTaps), await pool.get('weighted_resize', weightedResizeGraph)]
    : [slerpFeeds(x, widthTaps, heightTaps), await pool.get('slerp_resize', slerpResizeGraph)];
  const { y } = await loaded.session.run(feeds);
  const data = y!.data as Float32Array;
  y!.dispose();
  return { latent: latent([batch, channels, height, width], data), provider: loaded.provider, fallbacks: loaded.fallbacks };
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
