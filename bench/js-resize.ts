import { upscaleMethod } from '../src/interpolation/methods.js';
import type { Taps } from '../src/interpolation/taps.js';
import type { Latent } from '../src/latent/tensor.js';

// The straightforward alternative the engine is measured against: the same taps applied in plain JS
// loops (width pass, then height pass), and bislerp as a per-pixel slerp loop.

export function jsResize(input: Latent, methodName: string, height: number, width: number): Float32Array {
  const method = upscaleMethod(methodName);
  const [batch, channels, inputHeight, inputWidth] = input.shape;
  const across = method.taps(inputWidth, width);
  const down = method.taps(inputHeight, height);
  const planes = method.combine === 'weighted' ? batch * channels : batch;
  const depth = method.combine === 'weighted' ? 1 : channels;
  const pass = method.combine === 'weighted' ? weightedPass : slerpPass;
  const wide = pass(input.data, planes, depth, inputHeight, inputWidth, across, 'width');
  return pass(wide, planes, depth, inputHeight, width, down, 'height');
}

type Pass = (x: Float32Array, planes: number, depth: number, rows: number, columns: number, taps: Taps, axis: 'width' | 'height') => Float32Array;

const weightedPass: Pass = (x, planes, _depth, rows, columns, taps, axis) => {
  const [outRows, outColumns] = axis === 'width' ? [rows, taps.outputLength] : [taps.outputLength, columns];
  const out = new Float32Array(planes * outRows * outColumns);
  for (let p = 0; p < planes; p++) {
    for (let r = 0; r < outRows; r++) {
      for (let c = 0; c < outColumns; c++) {
        const o = axis === 'width' ? c : r;
        let sum = 0;
        for (let k = 0; k < taps.count; k++) {
          const i = taps.indices[o * taps.count + k]!;
          sum += taps.weights[o * taps.count + k]! * x[p * rows * columns + (axis === 'width' ? r * columns + i : i * columns + c)]!;
        }
        out[(p * outRows + r) * outColumns + c] = sum;
      }
    }
  }
  return out;
};

const slerpPass: Pass = (x, batch, channels, rows, columns, taps, axis) => {
  const [outRows, outColumns] = axis === 'width' ? [rows, taps.outputLength] : [taps.outputLength, columns];
  const out = new Float32Array(batch * channels * outRows * outColumns);
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let r = 0; r < outRows; r++) {
      for (let c = 0; c < outColumns; c++) {
        const o = axis === 'width' ? c : r;
        const [left, right, ratio] = [taps.indices[2 * o]!, taps.indices[2 * o + 1]!, taps.weights[2 * o + 1]!];
        let [na, nb] = [0, 0];
        for (let ch = 0; ch < channels; ch++) {
          const plane = (n * channels + ch) * rows * columns;
          a[ch] = x[plane + (axis === 'width' ? r * columns + left : left * columns + c)]!;
          b[ch] = x[plane + (axis === 'width' ? r * columns + right : right * columns + c)]!;
          na += a[ch]! * a[ch]!;
          nb += b[ch]! * b[ch]!;
        }
        [na, nb] = [Math.sqrt(na), Math.sqrt(nb)];
        let dot = 0;
        for (let ch = 0; ch < channels; ch++) dot += (na === 0 ? 0 : a[ch]! / na) * (nb === 0 ? 0 : b[ch]! / nb);
        const omega = Math.acos(dot);
        const [wa, wb] = [Math.sin((1 - ratio) * omega) / Math.sin(omega), Math.sin(ratio * omega) / Math.sin(omega)];
        const norm = na * (1 - ratio) + nb * ratio;
        for (let ch = 0; ch < channels; ch++) {
          const value = dot > 1 - 1e-5 ? a[ch]!
            : dot < 1e-5 - 1 ? a[ch]! * (1 - ratio) + b[ch]! * ratio
              : (wa * (na === 0 ? 0 : a[ch]! / na) + wb * (nb === 0 ? 0 : b[ch]! / nb)) * norm;
          out[((n * channels + ch) * outRows + r) * outColumns + c] = value;
        }
      }
    }
  }
  return out;
};
