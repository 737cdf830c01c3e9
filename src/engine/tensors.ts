import ort from 'onnxruntime-node';
import { floatToHalf, halfToFloat } from '../latent/float16.js';

// Models may take and give float16 (fp16 exports); the pipeline works in float32 and casts at the edges.

export type FloatType = 'float32' | 'float16';

export function floatTensor(values: Float32Array, type: FloatType, dims: readonly number[]): ort.Tensor {
  return type === 'float16'
    ? new ort.Tensor('float16', Uint16Array.from(values, floatToHalf), [...dims])
    : new ort.Tensor('float32', values, [...dims]);
}

export function tensorValues(tensor: ort.Tensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float16') return Float32Array.from(tensor.data as Uint16Array, halfToFloat);
  throw new Error(`expected a float tensor, got ${tensor.type}`);
}
