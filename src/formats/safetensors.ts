import { UserError } from '../errors.js';
import { BYTES_PER_ELEMENT, decodeElements, encodeElements, type StoredElement } from './element-types.js';

// safetensors (https://github.com/huggingface/safetensors): u64 LE header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets} relative to the byte after the header, then the data.
const DTYPES: Record<string, StoredElement> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const HEADER_ALIGNMENT = 8;
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface StoredTensor {
  readonly shape: readonly number[];
  readonly element: StoredElement;
  readonly data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface DecodedSafetensors {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function decodeSafetensors(bytes: Uint8Array, source = '.safetensors'): DecodedSafetensors {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = bytes.length >= 8 ? Number(view.getBigUint64(0, true)) : -1;
  if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw new UserError(`${source}: not a safetensors file (header length ${headerLength} does not fit a ${bytes.length}-byte file)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch {
    throw new UserError(`${source}: not a safetensors file (header is not JSON)`);
  }
  const body = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = raw as HeaderEntry;
    const element = DTYPES[entry.dtype];
    if (element === undefined) {
      throw new UserError(`${source}: tensor '${name}' has dtype ${entry.dtype}; supported: ${Object.keys(DTYPES).join(', ')}`);
    }
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = entry.data_offsets;
    if (end - begin !== count * BYTES_PER_ELEMENT[element] || end > body.length) {
      throw new UserError(`${source}: tensor '${name}' data offsets [${begin}, ${end}] do not match shape [${entry.shape.join(', ')}] ${entry.dtype}`);
    }
    tensors.set(name, { shape: entry.shape, element, data: decodeElements(body.subarray(begin, end), element, count) });
  }
  const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
  return { tensors, metadata };
}

export function encodeSafetensors(
  tensors: ReadonlyMap<string, StoredTensor & { element: Exclude<StoredElement, 'bfloat16'> }>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const body = encodeElements(tensor.data, tensor.element);
    const dtype = Object.entries(DTYPES).find(([, e]) => e === tensor.element)![0];
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + body.length] };
    bodies.push(body);
    offset += body.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((HEADER_ALIGNMENT - (json.length % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const body of bodies) {
    out.set(body, at);
    at += body.length;
  }
  return out;
}
