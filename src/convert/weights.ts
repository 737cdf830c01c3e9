import { open, type FileHandle } from 'node:fs/promises';
import type { GraphBuilder } from '../engine/onnx/graph-builder.js';
import { encodeElements } from '../formats/element-types.js';
import { CheckpointError, type CheckpointFile } from './checkpoint-file.js';
import type { WeightSource } from './graphs/layers.js';

export type StoragePrecision = 'fp16' | 'fp32';

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
  private readonly pending: string[] = [];
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

  tensor(g: GraphBuilder, name: string, shape: readonly number[]): string {
    const key = this.prefix + name;
    const done = this.converted.get(key);
    if (done !== undefined) return done;
    this.expect(name, shape);
    const length = shape.reduce((a, b) => a * b, 1) * BYTES[this.precision];
    const initializer = g.initializer(key, this.precision === 'fp16' ? 'float16' : 'float32', shape, { location: this.location, offset: this.offset, length });
    this.offset += length;
    this.pending.push(key);
    const value = this.precision === 'fp16' ? g.op('Cast', [initializer], { to: { int: 1 } }) : initializer;
    this.converted.set(key, value);
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
  async write(path: string): Promise<number> {
    const output: FileHandle = await open(path, 'w');
    try {
      for (const key of this.pending) {
        const dtype = this.file.entry(key).dtype;
        const bytes = (this.precision === 'fp16' && dtype === 'F16') || (this.precision === 'fp32' && dtype === 'F32')
          ? await this.file.bytes(key)
          : encodeElements(await this.file.floats(key), this.precision === 'fp16' ? 'float16' : 'float32');
        await output.write(bytes);
      }
    } finally {
      await output.close();
    }
    return this.offset;
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
