import { bfloat16ToFloat, floatToHalf, halfToFloat } from '../latent/float16.js';

/** Element types a latent file may hold on disk; in memory every latent is float32. */
export type StoredElement = 'float32' | 'float16' | 'bfloat16';

export const BYTES_PER_ELEMENT: Record<StoredElement, number> = { float32: 4, float16: 2, bfloat16: 2 };

/** Little-endian element bytes to float32 values. */
export function decodeElements(bytes: Uint8Array, element: StoredElement, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const step = BYTES_PER_ELEMENT[element];
  for (let i = 0; i < count; i++) {
    const at = i * step;
    out[i] = element === 'float32' ? view.getFloat32(at, true)
      : element === 'float16' ? halfToFloat(view.getUint16(at, true))
        : bfloat16ToFloat(view.getUint16(at, true));
  }
  return out;
}

/** float32 values to little-endian bytes of the stored type (float32 or float16). */
export function encodeElements(values: Float32Array, element: Exclude<StoredElement, 'bfloat16'>): Uint8Array {
  const bytes = new Uint8Array(values.length * BYTES_PER_ELEMENT[element]);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (element === 'float32') view.setFloat32(i * 4, values[i]!, true);
    else view.setUint16(i * 2, floatToHalf(values[i]!), true);
  }
  return bytes;
}
