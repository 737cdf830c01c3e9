import { UserError } from '../errors.js';
import { decodeElements, encodeElements, type StoredElement } from './element-types.js';

// safetensors (https://github.com/huggingface/safetensors): u64 LE header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets} relative to the byte after the header, then the data.
/** The floating-point dtypes read as float32 values. */
export const FLOAT_DTYPES: Readonly<Record<string, StoredElement>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
/** Bytes per element of the dtypes the format defines, so any file's header can be checked (checkpoints hold I64 position_ids). */
const BYTES_PER_DTYPE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const HEADER_ALIGNMENT = 8;
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor's header entry; begin and end count from the first byte after the header. */
export interface SafetensorsEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** The header length the first 8 bytes give, checked against the file's size. */
export function safetensorsHeaderLength(prefix: Uint8Array, fileBytes: number, source: string): number {
  const length = prefix.length >= 8 ? Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)) : -1;
  if (length < 2 || length > MAX_HEADER_BYTES || 8 + length > fileBytes) {
    throw new UserError(`${source}: not a safetensors file (header length ${length} does not fit a ${fileBytes}-byte file)`, 'LATENT_UNREADABLE');
  }
  return length;
}

/** The JSON header's tensors, each checked: a known dtype, a byte range its shape fills, inside the `dataBytes` after the header. */
export function parseSafetensorsHeader(json: Uint8Array, dataBytes: number, source: string): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>;
  } catch {
    throw new UserError(`${source}: not a safetensors file (header is not JSON)`, 'LATENT_UNREADABLE');
  }
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = BYTES_PER_DTYPE[dtype];
    if (width === undefined || !Array.isArray(shape) || !Array.isArray(offsets)) throw new UserError(`${source}: tensor '${name}' has an unreadable header entry (dtype ${dtype})`, 'LATENT_UNREADABLE');
    const [begin, end] = offsets;
    if (end - begin !== shape.reduce((a, b) => a * b, 1) * width) {
      throw new UserError(`${source}: tensor '${name}' data offsets [${begin}, ${end}] do not match shape [${shape.join(', ')}] ${dtype}`, 'LATENT_UNREADABLE');
    }
    if (end > dataBytes) throw new UserError(`${source}: truncated: tensor '${name}' ends at byte ${end} of the data, which has ${dataBytes}`, 'LATENT_UNREADABLE');
    entries.set(name, { dtype, shape, begin, end });
  }
  return { entries, metadata: (header['__metadata__'] ?? {}) as Record<string, string> };
}

export interface StoredTensor {
  readonly shape: readonly number[];
  readonly element: StoredElement;
  readonly data: Float32Array;
}

export interface DecodedSafetensors {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function decodeSafetensors(bytes: Uint8Array, source = '.safetensors'): DecodedSafetensors {
  const headerLength = safetensorsHeaderLength(bytes, bytes.length, source);
  const body = bytes.subarray(8 + headerLength);
  const { entries, metadata } = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), body.length, source);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, { dtype, shape, begin, end }] of entries) {
    const element = FLOAT_DTYPES[dtype];
    if (element === undefined) throw new UserError(`${source}: tensor '${name}' has dtype ${dtype}; supported: ${Object.keys(FLOAT_DTYPES).join(', ')}`, 'LATENT_UNREADABLE');
    tensors.set(name, { shape, element, data: decodeElements(body.subarray(begin, end), element, shape.reduce((a, b) => a * b, 1)) });
  }
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
    const dtype = Object.entries(FLOAT_DTYPES).find(([, e]) => e === tensor.element)![0];
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
