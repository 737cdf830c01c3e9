import { closeSync, openSync, writeSync } from 'node:fs';
import type { GraphBuilder } from '../engine/onnx/graph-builder.js';
import type { ExternalData } from '../engine/onnx/model.js';
import { encodeElements } from '../formats/element-types.js';
import { CheckpointError, type CheckpointFile } from './checkpoint-file.js';
import type { WeightSource } from './graphs/layers.js';

export type StoragePrecision = 'fp16' | 'fp32';

/** Appends initializer bytes to one component's external weights file (ONNX external data). */
export class ExternalWeightsWriter {
  private readonly fd: number;
  private offset = 0;

  constructor(readonly path: string, private readonly location: string) {
    this.fd = openSync(path, 'w');
  }

  append(bytes: Uint8Array): ExternalData {
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written, this.offset + written);
    const data = { location: this.location, offset: this.offset, length: bytes.length };
    this.offset += bytes.length;
    return data;
  }

  get bytes(): number {
    return this.offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Weights taken from a checkpoint under one key prefix, checked against the shape the graph expects,
 * stored in the chosen precision in the external weights file, and cast to float32 inside the graph
 * (onnxruntime folds the cast when it loads the model, so fp16 storage halves the files, not the math).
 */
export class CheckpointWeights implements WeightSource {
  private readonly converted = new Map<string, string>();

  constructor(
    private readonly file: CheckpointFile,
    private readonly prefix: string,
    private readonly precision: StoragePrecision,
    private readonly writer: ExternalWeightsWriter,
    /** Every full key a graph took or checked, for the caller's check that nothing was left over. */
    readonly used: Set<string>,
  ) {}

  tensor(g: GraphBuilder, name: string, shape: readonly number[]): string {
    const key = this.prefix + name;
    const done = this.converted.get(key);
    if (done !== undefined) return done;
    this.expect(name, shape);
    const stored = this.file.entry(key);
    const bytes = this.precision === 'fp16' && stored.dtype === 'F16' ? this.file.bytes(key)
      : this.precision === 'fp32' && stored.dtype === 'F32' ? this.file.bytes(key)
        : encodeElements(this.file.floats(key), this.precision === 'fp16' ? 'float16' : 'float32');
    const initializer = g.initializer(key, this.precision === 'fp16' ? 'float16' : 'float32', shape, this.writer.append(bytes));
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
