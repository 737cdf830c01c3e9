import { floatToHalf, halfToFloat } from '../latent/float16.js';

/** Element types a latent file may hold on disk; in memory every latent is float32. */
export type StoredElement = 'float32' | 'float16' | 'bfloat16';

export const BYTES_PER_ELEMENT: Record<StoredElement, number> = { float32: 4, float16: 2, bfloat16: 2 };

/** Every float16 bit pattern's value: decoding by lookup is ~10× faster than by arithmetic (a 2 GB checkpoint is a billion of them). */
let halfTable: Float32Array | undefined;

/**
 * Little-endian element bytes to float32 values, through typed-array views: Node runs on little-endian
 * hosts only (x64, arm64), so the views read the file's byte order as it is.
 */
export function decodeElements(bytes: Uint8Array, element: StoredElement, count: number): Float32Array {
  const width = BYTES_PER_ELEMENT[element];
  // A copy where the bytes do not start on an element boundary (new Uint8Array copies; Buffer's slice would not).
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes);
  if (element === 'float32') return new Float32Array(aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + count * 4));
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
  const out = new Float32Array(count);
  if (element === 'float16') {
    halfTable ??= Float32Array.from({ length: 65536 }, (_, bits) => halfToFloat(bits));
    for (let i = 0; i < count; i++) out[i] = halfTable[halves[i]!]!;
  } else {
    // bfloat16 is the high half of a float32.
    const words = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) words[i] = halves[i]! << 16;
  }
  return out;
}

/** float32 values to little-endian bytes of the stored type (float32 or float16). */
export function encodeElements(values: Float32Array, element: Exclude<StoredElement, 'bfloat16'>): Uint8Array {
  if (element === 'float32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const halves = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) halves[i] = floatToHalf(values[i]!);
  return new Uint8Array(halves.buffer);
}
