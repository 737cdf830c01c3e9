import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { decodeElements, type StoredElement } from '../formats/element-types.js';

// A single-file checkpoint read lazily: the safetensors header (https://github.com/huggingface/safetensors:
// u64 LE header length, JSON {name: {dtype, shape, data_offsets}}, then the data) is parsed once, and each
// tensor is read from disk when a graph asks for it, so a 7 GB SDXL file never sits in memory whole.

const FLOAT_DTYPES: Record<string, StoredElement> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const BYTES_PER_DTYPE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const readAsync = promisify(read);

export interface TensorEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

/** A checkpoint that cannot be converted; the message names the file and the tensor at fault. */
export class CheckpointError extends UserError {
  constructor(readonly file: string, detail: string) {
    super(`${basename(file)}: ${detail}`);
  }
}

export class CheckpointFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly entries: ReadonlyMap<string, TensorEntry>,
  ) {}

  static open(path: string): CheckpointFile {
    if (/\.(ckpt|pt|pth|bin)$/i.test(path)) {
      throw new CheckpointError(path, 'pickled PyTorch checkpoints are not read (they can run code); use the .safetensors version of the model');
    }
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new CheckpointError(path, `cannot open it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    try {
      return CheckpointFile.parse(path, fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  private static parse(path: string, fd: number): CheckpointFile {
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    const headerLength = readSync(fd, prefix, 0, 8, 0) === 8 ? Number(prefix.readBigUInt64LE(0)) : -1;
    if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
      throw new CheckpointError(path, `not a safetensors file (its first 8 bytes give a header of ${headerLength} bytes in a ${size}-byte file)`);
    }
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new CheckpointError(path, 'not a safetensors file (the header is not JSON)');
    }
    const entries = new Map<string, TensorEntry>();
    const dataStart = 8 + headerLength;
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: offsets } = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const width = BYTES_PER_DTYPE[dtype];
      if (width === undefined || !Array.isArray(shape) || !Array.isArray(offsets)) throw new CheckpointError(path, `tensor '${name}' has an unreadable header entry`);
      const begin = dataStart + offsets[0];
      const end = dataStart + offsets[1];
      if (end - begin !== shape.reduce((a, b) => a * b, 1) * width) {
        throw new CheckpointError(path, `tensor '${name}' takes ${end - begin} bytes but its shape [${shape.join(', ')}] ${dtype} needs ${shape.reduce((a, b) => a * b, 1) * width}`);
      }
      if (end > size) throw new CheckpointError(path, `truncated: tensor '${name}' ends at byte ${end} but the file has ${size}`);
      entries.set(name, { dtype, shape, begin, end });
    }
    return new CheckpointFile(path, fd, entries);
  }

  /** The same file with its keys renamed (the tensors are read from where they are). */
  renamed(rename: (key: string) => string): CheckpointFile {
    return new CheckpointFile(this.path, this.fd, new Map([...this.entries].map(([key, entry]) => [rename(key), entry])));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): readonly number[] {
    return this.entry(name).shape;
  }

  entry(name: string): TensorEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new CheckpointError(this.path, `tensor '${name}' is missing`);
    return entry;
  }

  /** The stored bytes of a tensor, as they are on disk (little-endian), read without blocking the event loop. */
  async bytes(name: string): Promise<Buffer> {
    const { begin, end } = this.entry(name);
    const out = Buffer.alloc(end - begin);
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await readAsync(this.fd, out, done, out.length - done, begin + done);
      if (bytesRead === 0) throw new CheckpointError(this.path, `truncated while reading '${name}'`);
      done += bytesRead;
    }
    return out;
  }

  /** A floating-point tensor as float32 values. */
  async floats(name: string): Promise<Float32Array> {
    const entry = this.entry(name);
    const element = FLOAT_DTYPES[entry.dtype];
    if (element === undefined) throw new CheckpointError(this.path, `tensor '${name}' is ${entry.dtype}; expected F32, F16 or BF16`);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    return decodeElements(await this.bytes(name), element, count);
  }

  close(): void {
    closeSync(this.fd);
  }
}
