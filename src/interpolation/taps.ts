/**
 * One axis of a separable resample: output i = Σ_k weights[i*count + k] · input[indices[i*count + k]].
 * Every separable method only has to say which input cells feed each output cell and with what weight;
 * the engine applies the same taps along height and width.
 */
export interface Taps {
  readonly inputLength: number;
  readonly outputLength: number;
  /** Taps per output cell; rows with fewer real taps are padded with weight 0 on index 0. */
  readonly count: number;
  readonly indices: Int32Array;
  readonly weights: Float32Array;
}

export interface Tap {
  readonly index: number;
  readonly weight: number;
}

export function tapsFromRows(inputLength: number, rows: readonly (readonly Tap[])[]): Taps {
  const count = Math.max(1, ...rows.map((row) => row.length));
  const indices = new Int32Array(rows.length * count);
  const weights = new Float32Array(rows.length * count);
  rows.forEach((row, i) => {
    row.forEach((tap, k) => {
      indices[i * count + k] = tap.index;
      weights[i * count + k] = tap.weight;
    });
  });
  return { inputLength, outputLength: rows.length, count, indices, weights };
}

export function buildTaps(inputLength: number, outputLength: number, row: (outputIndex: number) => readonly Tap[]): Taps {
  return tapsFromRows(inputLength, Array.from({ length: outputLength }, (_, i) => row(i)));
}
