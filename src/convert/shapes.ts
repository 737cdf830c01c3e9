import { CheckpointError } from './checkpoint-file.js';

/** Tensor shapes under one component's key prefix: what architecture readers look at. */
export class ShapeReader {
  constructor(
    private readonly file: string,
    private readonly prefix: string,
    private readonly shapes: (name: string) => readonly number[] | undefined,
  ) {}

  under(prefix: string): ShapeReader {
    return new ShapeReader(this.file, this.prefix + prefix, this.shapes);
  }

  has(name: string): boolean {
    return this.shapes(this.prefix + name) !== undefined;
  }

  /** The shape of `name`, which must exist. */
  shape(name: string): readonly number[] {
    const shape = this.shapes(this.prefix + name);
    if (shape === undefined) throw new CheckpointError(this.file, `tensor '${this.prefix}${name}' is missing`);
    return shape;
  }

  /** The shape of `name`, which must exist with `rank` dimensions. */
  dims(name: string, rank: number): number[] {
    const shape = this.shape(name);
    if (shape.length !== rank) throw new CheckpointError(this.file, `tensor '${this.prefix}${name}' has shape [${shape.join(', ')}]; expected ${rank} dimensions`);
    return [...shape];
  }

  /** One dimension of `name`, which must exist with `rank` dimensions. */
  dim(name: string, rank: number, index: number): number {
    return this.dims(name, rank)[index]!;
  }

  /** How many of name(0), name(1), … exist, stopping at the first gap. */
  count(name: (i: number) => string): number {
    let n = 0;
    while (this.has(name(n))) n++;
    return n;
  }

  fail(detail: string): never {
    throw new CheckpointError(this.file, detail);
  }
}
