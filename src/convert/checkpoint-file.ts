import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { decodeElements } from '../formats/element-types.js';
import { FLOAT_DTYPES, parseSafetensorsHeader, safetensorsHeaderLength } from '../formats/safetensors.js';

// A single-file checkpoint read lazily: the safetensors header (https://github.com/huggingface/safetensors:
// u64 LE header length, JSON {name: {dtype, shape, data_offsets}}, then the data) is parsed once, and each
// tensor is read from disk when a graph asks for it, so a 7 GB SDXL file never sits in memory whole.

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
    super(`${basename(file)}: ${detail}`, 'FILE_UNREADABLE');
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
    const source = basename(path);
    const prefix = Buffer.alloc(8);
    readSync(fd, prefix, 0, 8, 0);
    const headerLength = safetensorsHeaderLength(prefix, size, source);
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    const dataStart = 8 + headerLength;
    const { entries } = parseSafetensorsHeader(headerBytes, size - dataStart, source);
    const absolute = new Map([...entries].map(([name, e]): [string, TensorEntry] => [name, { ...e, begin: dataStart + e.begin, end: dataStart + e.end }]));
    return new CheckpointFile(path, fd, absolute);
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
