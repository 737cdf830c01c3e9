// Element-wise float32 arithmetic over flat latents: the handful of operations the samplers combine.

export type Vector = Float32Array;

/** Σ coefficient_k · vector_k, one pass, no temporaries. */
export function combine(terms: readonly (readonly [number, Vector])[]): Vector {
  const out = new Float32Array(terms[0]![1].length);
  for (const [coefficient, vector] of terms) {
    if (coefficient === 0) continue;
    for (let i = 0; i < out.length; i++) out[i]! += coefficient * vector[i]!;
  }
  return out;
}

/** k-diffusion to_d: the ODE derivative (x − denoised) / σ. */
export function toD(x: Vector, sigma: number, denoised: Vector): Vector {
  return combine([[1 / sigma, x], [-1 / sigma, denoised]]);
}
