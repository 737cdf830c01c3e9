import { UserError } from '../errors.js';
import { latent, type Latent } from '../latent/tensor.js';
import { BYTES_PER_ELEMENT, decodeElements, encodeElements, type StoredElement } from './element-types.js';

// NumPy .npy, format versions 1.0–3.0 (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCRIPTORS: Record<string, Exclude<StoredElement, 'bfloat16'>> = { '<f4': 'float32', '<f2': 'float16' };
const ALIGNMENT = 64;

export interface DecodedNpy {
  readonly latent: Latent;
  readonly element: Exclude<StoredElement, 'bfloat16'>;
}

export function decodeNpy(bytes: Uint8Array, source = '.npy'): DecodedNpy {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new UserError(`${source}: not a .npy file (missing the \\x93NUMPY magic)`, 'LATENT_UNREADABLE');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLength, headerStart] = major === 1 ? [view.getUint16(8, true), 10]
    : major === 2 || major === 3 ? [view.getUint32(8, true), 12]
      : (() => { throw new UserError(`${source}: unsupported .npy format version ${major}`, 'LATENT_UNREADABLE'); })();
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new UserError(`${source}: malformed .npy header: ${header.trim()}`, 'LATENT_UNREADABLE');
  }
  const element = DESCRIPTORS[descr];
  if (element === undefined) {
    throw new UserError(`${source}: dtype '${descr}' is not supported; save the latent as little-endian float32 ('<f4') or float16 ('<f2')`, 'LATENT_UNREADABLE');
  }
  if (fortran === 'True') {
    throw new UserError(`${source}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`, 'LATENT_UNREADABLE');
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const needed = count * BYTES_PER_ELEMENT[element];
  if (bytes.length - dataStart < needed) {
    throw new UserError(`${source}: truncated: shape (${shape.join(', ')}) needs ${needed} bytes of data, file has ${bytes.length - dataStart}`, 'LATENT_UNREADABLE');
  }
  const data = decodeElements(bytes.subarray(dataStart, dataStart + needed), element, count);
  return { latent: latent(shape, data), element };
}

export function encodeNpy(value: Latent, element: Exclude<StoredElement, 'bfloat16'> = 'float32'): Uint8Array {
  const descr = Object.entries(DESCRIPTORS).find(([, e]) => e === element)![0];
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${value.shape.join(', ')}), }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  const padding = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
  const header = `${dict}${' '.repeat(padding)}\n`;
  const body = encodeElements(value.data, element);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}
