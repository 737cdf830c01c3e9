import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { UserError } from '../errors.js';
import { readImageHeader } from '../images/sniff.js';
import { latent, type Latent } from '../latent/tensor.js';
import { leadingHex } from './bytes.js';
import { decodeNpy, encodeNpy } from './npy.js';
import { decodeSafetensors, encodeSafetensors, type DecodedSafetensors, type StoredTensor } from './safetensors.js';

/** ComfyUI's SaveLatent/LoadLatent keys: the tensor, and an empty marker meaning "already scaled". */
export const COMFY_LATENT_KEY = 'latent_tensor';
export const COMFY_VERSION_MARKER = 'latent_format_version_0';
/** ComfyUI's LoadLatent divides files without the marker by SD1's VAE factor; we read them the same way. */
const LEGACY_COMFY_LATENT_SCALE = 1 / 0.18215;

export type LatentFormat = 'npy' | 'safetensors' | 'latent';
export const LATENT_FORMATS: readonly LatentFormat[] = ['npy', 'safetensors', 'latent'];

/** A latent with the on-disk element type it came in, so a resize writes back what it read. */
export interface LatentFile {
  readonly latent: Latent;
  readonly element: 'float32' | 'float16';
}

export function formatOf(path: string): LatentFormat {
  const format = extname(path).slice(1).toLowerCase();
  if (!(LATENT_FORMATS as readonly string[]).includes(format)) {
    throw new UserError(`${path}: unsupported latent file extension '${extname(path)}' (allowed: ${LATENT_FORMATS.map((f) => `.${f}`).join(', ')})`, 'FILE_UNREADABLE');
  }
  return format as LatentFormat;
}

export function decodeLatent(bytes: Uint8Array, format: LatentFormat, source: string = format): LatentFile {
  if (format === 'npy') return decodeNpy(bytes, source);
  return fromSafetensors(decodeSafetensors(bytes, source), format, source);
}

/**
 * For bodies without a file name: .npy by its magic, otherwise safetensors, and a ComfyUI .latent when it
 * carries the version marker. The bytes are decoded once.
 */
export function decodeLatentDetected(bytes: Uint8Array, source: string): { file: LatentFile; format: LatentFormat } {
  if (bytes[0] === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY') return { file: decodeNpy(bytes, source), format: 'npy' };
  // A safetensors header is JSON: its first byte, after the 8-byte length, opens the object.
  if (bytes.length < 9 || bytes[8] !== 0x7b) throw notALatent(bytes, source);
  const decoded = decodeSafetensors(bytes, source);
  const format: LatentFormat = decoded.tensors.has(COMFY_VERSION_MARKER) ? 'latent' : 'safetensors';
  return { file: fromSafetensors(decoded, format, source), format };
}

function notALatent(bytes: Uint8Array, source: string): UserError {
  const image = readImageHeader(bytes);
  const what = 'problem' in image ? '' : `; it is a ${image.format.toUpperCase()} image (images go to POST /upscale or /jobs)`;
  return new UserError(`${source}: not a .npy, safetensors or ComfyUI .latent file (it starts with ${leadingHex(bytes) || 'nothing'}${what})`, 'LATENT_UNREADABLE');
}

function fromSafetensors({ tensors }: DecodedSafetensors, format: Exclude<LatentFormat, 'npy'>, source: string): LatentFile {
  const [name, tensor] = pickLatentTensor(tensors, source);
  const legacyComfy = format === 'latent' && !tensors.has(COMFY_VERSION_MARKER);
  const data = legacyComfy ? tensor.data.map((v) => v * LEGACY_COMFY_LATENT_SCALE) : tensor.data;
  const element = tensor.element === 'float16' ? 'float16' : 'float32';
  try {
    return { latent: latent(tensor.shape, data), element };
  } catch (error) {
    throw error instanceof UserError ? new UserError(`${source}: tensor '${name}': ${error.message}`, error.code) : error;
  }
}

export function encodeLatent(file: LatentFile, format: LatentFormat): Uint8Array {
  if (format === 'npy') return encodeNpy(file.latent, file.element);
  const tensors = new Map<string, StoredTensor & { element: 'float32' | 'float16' }>([
    [COMFY_LATENT_KEY, { shape: file.latent.shape, element: file.element, data: file.latent.data }],
  ]);
  if (format === 'latent') tensors.set(COMFY_VERSION_MARKER, { shape: [0], element: 'float32', data: new Float32Array(0) });
  return encodeSafetensors(tensors);
}

export async function readLatentFile(path: string): Promise<LatentFile> {
  const format = formatOf(path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UserError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 'FILE_UNREADABLE');
  }
  return decodeLatent(bytes, format, path);
}

export async function writeLatentFile(path: string, file: LatentFile): Promise<void> {
  const bytes = encodeLatent(file, formatOf(path));
  try {
    await writeFile(path, bytes);
  } catch (error) {
    throw new UserError(`${path}: cannot write (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 'FILE_UNREADABLE');
  }
}

/** `latent_tensor` when present (ComfyUI), else the file's only non-empty tensor. */
function pickLatentTensor(tensors: ReadonlyMap<string, StoredTensor>, source: string): [string, StoredTensor] {
  const comfy = tensors.get(COMFY_LATENT_KEY);
  if (comfy !== undefined) return [COMFY_LATENT_KEY, comfy];
  const candidates = [...tensors].filter(([, t]) => t.data.length > 0);
  if (candidates.length === 1) return candidates[0]!;
  throw new UserError(
    candidates.length === 0
      ? `${source}: holds no tensor`
      : `${source}: holds ${candidates.length} tensors (${candidates.map(([n]) => n).join(', ')}); name the latent '${COMFY_LATENT_KEY}' or keep one tensor per file`,
    'LATENT_UNREADABLE',
  );
}
