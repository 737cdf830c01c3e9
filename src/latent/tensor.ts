import { UserError } from '../errors.js';

/** A float32 NCHW latent: batch ≥ 1, any channel count (4 for SD1/2/XL, 16 for newer models). */
export interface Latent {
  readonly shape: readonly [batch: number, channels: number, height: number, width: number];
  readonly data: Float32Array;
}

/** Upper bound on any one spatial side, in latent cells (65536 px); far past any model, well inside int32. */
export const MAX_LATENT_SIDE = 8192;
/** Upper bound on elements in one latent (4 GiB of float32 would not fit a Float32Array anyway). */
export const MAX_LATENT_ELEMENTS = 2 ** 30;

/** A checked NCHW shape: four positive integers. */
export function latentShape(shape: readonly number[]): Latent['shape'] {
  if (shape.length !== 4) {
    throw new UserError(`latent must be 4-D (batch, channels, height, width); got ${shape.length}-D shape [${shape.join(', ')}]`, 'INVALID_LATENT');
  }
  const [batch, channels, height, width] = shape as [number, number, number, number];
  for (const [name, value] of [['batch', batch], ['channels', channels], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new UserError(`latent ${name} must be a positive integer; got ${value}`, 'INVALID_LATENT');
    }
  }
  return [batch, channels, height, width];
}

export function latent(shape: readonly number[], data: Float32Array): Latent {
  const [batch, channels, height, width] = latentShape(shape);
  const count = batch * channels * height * width;
  if (data.length !== count) {
    throw new UserError(`latent data holds ${data.length} values but shape [${shape.join(', ')}] needs ${count}`, 'INVALID_LATENT');
  }
  return { shape: [batch, channels, height, width], data };
}

export function zeros(shape: readonly number[]): Latent {
  return latent(shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
}

export function checkTargetSize(height: number, width: number): void {
  for (const [name, value] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_LATENT_SIDE) {
      throw new UserError(`target ${name} must be an integer from 1 to ${MAX_LATENT_SIDE} latent cells; got ${value}`, 'INVALID_LATENT');
    }
  }
}

export function checkOutputElements(batch: number, channels: number, height: number, width: number): void {
  const count = batch * channels * height * width;
  if (count > MAX_LATENT_ELEMENTS) {
    throw new UserError(`output latent [${batch}, ${channels}, ${height}, ${width}] has ${count} values; the limit is ${MAX_LATENT_ELEMENTS}`, 'LATENT_TOO_LARGE');
  }
}
