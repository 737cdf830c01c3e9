import { open, type FileHandle } from 'node:fs/promises';
import type { GraphBuilder } from '../engine/onnx/graph-builder.js';
import { encodeElements } from '../formats/element-types.js';
import { CheckpointError, type CheckpointFile } from './checkpoint-file.js';
import type { WeightSource } from './graphs/layers.js';

export type StoragePrecision = 'fp16' | 'fp32';

/** The largest finite float16. */
const HALF_MAX = 65504;

/** Element bytes per stored precision. */
const BYTES: Record<StoragePrecision, number> = { fp16: 2, fp32: 4 };

/**
 * Weights taken from a checkpoint under one key prefix, checked against the shape the graph expects,
 * stored in the chosen precision in the external weights file, and cast to float32 inside the graph
 * (onnxruntime folds the cast when it loads the model, so fp16 storage halves the files, not the math).
 */
export class CheckpointWeights implements WeightSource {
  private readonly converted = new Map<string, string>();
  /** Tensors the graph refers to, in external-file order, written by `write()`. */
  private readonly pending: { key: string; transposed: boolean }[] = [];
  private offset = 0;

  constructor(
    private readonly file: CheckpointFile,
    private readonly prefix: string,
    private readonly precision: StoragePrecision,
    /** The external weights file's name, relative to the model file. */
    private readonly location: string,
    /** Every full key a graph took or checked, for the caller's check that nothing was left over. */
    readonly used: Set<string>,
  ) {}

  tensor(g: GraphBuilder, name: string, shape: readonly number[], transposed = false): string {
    const key = this.prefix + name;
    const done = this.converted.get(`${key}${transposed ? 'ᵀ' : ''}`);
    if (done !== undefined) return done;
    this.expect(name, shape);
    const length = shape.reduce((a, b) => a * b, 1) * BYTES[this.precision];
    const dims = transposed ? [shape[1]!, shape[0]!] : shape;
    const initializer = g.initializer(transposed ? `${key}ᵀ` : key, this.precision === 'fp16' ? 'float16' : 'float32', dims, { location: this.location, offset: this.offset, length });
    this.offset += length;
    this.pending.push({ key, transposed });
    const value = this.precision === 'fp16' ? g.op('Cast', [initializer], { to: { int: 1 } }) : initializer;
    this.converted.set(`${key}${transposed ? 'ᵀ' : ''}`, value);
    return value;
  }

  expect(name: string, shape: readonly number[]): void {
    const key = this.prefix + name;
    const stored = this.file.entry(key).shape;
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(this.file.path, `tensor '${key}' has shape [${stored.join(', ')}]; the architecture read from the other tensors needs [${shape.join(', ')}]`);
    }
    this.used.add(key);
  }

  /** Reads, converts and appends every tensor the graph took, one at a time; returns the bytes written. */
  async write(path: string, signal?: AbortSignal): Promise<number> {
    const output: FileHandle = await open(path, 'w');
    try {
      let at = 0;
      for (const { key, transposed } of this.pending) {
        signal?.throwIfAborted();
        const { dtype, shape } = this.file.entry(key);
        const bytes = (this.precision === 'fp16' && dtype === 'F16') || (this.precision === 'fp32' && dtype === 'F32')
          ? await this.file.bytes(key)
          : this.encode(key, await this.file.floats(key));
        const ordered = transposed ? transpose(bytes, shape[0]!, shape[1]!, BYTES[this.precision]) : bytes;
        for (let done = 0; done < ordered.length;) done += (await output.write(ordered, done, ordered.length - done, at + done)).bytesWritten;
        at += ordered.length;
      }
    } finally {
      await output.close();
    }
    return this.offset;
  }

  /** float32 values in the stored precision; half precision must hold them (its largest is 65504). */
  private encode(key: string, values: Float32Array): Uint8Array {
    if (this.precision === 'fp16') {
      const largest = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      if (largest > HALF_MAX) throw new CheckpointError(this.file.path, `tensor '${key}' holds values up to ${largest.toExponential(3)}, beyond float16's ${HALF_MAX}; convert with --precision fp32`);
    }
    return encodeElements(values, this.precision === 'fp16' ? 'float16' : 'float32');
  }
}

/** Lists the weights a graph asks for, with their shapes: what a checkpoint of that architecture holds. */
export class WeightRecorder implements WeightSource {
  constructor(private readonly prefix: string, readonly shapes: Map<string, readonly number[]>) {}

  tensor(_g: GraphBuilder, name: string, shape: readonly number[]): string {
    this.expect(name, shape);
    return this.prefix + name;
  }

  expect(name: string, shape: readonly number[]): void {
    this.shapes.set(this.prefix + name, shape);
  }
}

/** A row-major [rows, columns] matrix of `width`-byte elements as [columns, rows]. */
export function transpose(bytes: Uint8Array, rows: number, columns: number, width: number): Uint8Array {
  const source = width === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, rows * columns) : new Uint32Array(bytes.buffer, bytes.byteOffset, rows * columns);
  const out = width === 2 ? new Uint16Array(rows * columns) : new Uint32Array(rows * columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = source[r * columns + c]!;
  return new Uint8Array(out.buffer);
}
