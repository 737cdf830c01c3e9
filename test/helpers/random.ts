import { seededRandom } from '../../src/random/mulberry32.js';

export { seededRandom };

/** Uniform values in [−amplitude, amplitude]. */
export function randomValues(count: number, seed: number, amplitude = 1): Float32Array {
  const next = seededRandom(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * amplitude);
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(worst) ? Infinity : worst;
}
