// Tiled processing with overlap and linear blending, so the VAE can encode and decode images larger than
// fits in memory at once without visible seams. Pure index math plus one accumulate loop.

export interface TileSpan {
  readonly start: number;
  readonly end: number;
}

/** Tiles of `size` covering [0, length), consecutive ones sharing `overlap`; one tile when it fits. */
export function tileSpans(length: number, size: number, overlap: number): TileSpan[] {
  if (length <= size) return [{ start: 0, end: length }];
  const stride = Math.max(1, size - overlap);
  const spans: TileSpan[] = [];
  for (let start = 0; ; start += stride) {
    const clamped = Math.min(start, length - size);
    spans.push({ start: clamped, end: clamped + size });
    if (clamped + size >= length) return spans;
  }
}

/**
 * Blend weight of position i inside a tile span. At an edge that another tile also covers, the first
 * `margin` cells get 0 (a network sees zero padding there, so they are wrong) and the next `ramp` cells
 * rise linearly to 1; at the image border the weight is flat 1.
 */
export function blendWeight(i: number, span: TileSpan, total: number, ramp: number, margin: number): number {
  const fromStart = span.start === 0 ? Infinity : i - span.start - margin + 1;
  const fromEnd = span.end === total ? Infinity : span.end - margin - i;
  return Math.max(0, Math.min(1, fromStart / (ramp + 1), fromEnd / (ramp + 1)));
}

export interface Planar {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

export function crop(source: Planar, top: number, left: number, height: number, width: number): Planar {
  const data = new Float32Array(source.channels * height * width);
  for (let c = 0; c < source.channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * source.height + top + y) * source.width + left;
      data.set(source.data.subarray(from, from + width), (c * height + y) * width);
    }
  }
  return { channels: source.channels, height, width, data };
}

/**
 * Runs `transform` on overlapping tiles of `input` and blends the results. `factor` is output cells per
 * input cell (8 for decode, 1/8 for encode); tile size and overlap are in input cells.
 */
export async function tiled(input: Planar, outputChannels: number, factor: number, tile: number, overlap: number, transform: (tile: Planar) => Promise<Planar>): Promise<Planar> {
  const rows = tileSpans(input.height, tile, overlap);
  const columns = tileSpans(input.width, tile, overlap);
  if (rows.length === 1 && columns.length === 1) return transform(input);
  const height = Math.round(input.height * factor);
  const width = Math.round(input.width * factor);
  const sum = new Float32Array(outputChannels * height * width);
  const weights = new Float32Array(height * width);
  // One input cell's worth of output at each inner edge is dropped; the rest of the overlap is blended.
  const margin = Math.max(1, Math.round(factor));
  const ramp = Math.max(1, Math.round(overlap * factor) - 2 * margin);
  for (const row of rows) {
    for (const column of columns) {
      const out = await transform(crop(input, row.start, column.start, row.end - row.start, column.end - column.start));
      const top = Math.round(row.start * factor);
      const left = Math.round(column.start * factor);
      const outRow = { start: top, end: top + out.height };
      const outColumn = { start: left, end: left + out.width };
      for (let y = 0; y < out.height; y++) {
        const wy = blendWeight(top + y, outRow, height, ramp, margin);
        for (let x = 0; x < out.width; x++) {
          const w = wy * blendWeight(left + x, outColumn, width, ramp, margin);
          weights[(top + y) * width + left + x]! += w;
          for (let c = 0; c < outputChannels; c++) sum[(c * height + top + y) * width + left + x]! += w * out.data[(c * out.height + y) * out.width + x]!;
        }
      }
    }
  }
  for (let c = 0; c < outputChannels; c++) for (let i = 0; i < height * width; i++) sum[c * height * width + i]! /= weights[i]!;
  return { channels: outputChannels, height, width, data: sum };
}

/** Pads to multiples of `multiple` by repeating the last row and column (crop() takes it back off). */
export function padToMultiple(source: Planar, multiple: number): Planar {
  const height = Math.ceil(source.height / multiple) * multiple;
  const width = Math.ceil(source.width / multiple) * multiple;
  if (height === source.height && width === source.width) return source;
  const data = new Float32Array(source.channels * height * width);
  for (let c = 0; c < source.channels; c++) {
    for (let y = 0; y < height; y++) {
      const sy = Math.min(y, source.height - 1);
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = source.data[(c * source.height + sy) * source.width + Math.min(x, source.width - 1)]!;
    }
  }
  return { channels: source.channels, height, width, data };
}
