// How long an onnx job still needs while it samples: the steps left at the mean time per step so far,
// plus the VAE decode that follows the last step. A decode cannot be timed before it runs, so it is
// estimated from the model's last decode, scaled by pixels (tiled decoding is linear in the area). Until
// a model has decoded once (its first job; warm-up runs are too small to say), the estimate leaves it out.

/** The last VAE decode of each model: seconds per output pixel. */
export class DecodeTimes {
  private readonly secondsPerPixel = new Map<string, number>();

  record(model: string, pixels: number, seconds: number): void {
    if (pixels > 0) this.secondsPerPixel.set(model, seconds / pixels);
  }

  /** Seconds a decode of `pixels` should take, or 0 while the model has not decoded yet. */
  estimate(model: string, pixels: number): number {
    return (this.secondsPerPixel.get(model) ?? 0) * pixels;
  }
}

/** One job's ETA; `now` is in milliseconds (performance.now unless a test gives a clock). */
export class SamplingEta {
  private samplingStart: number | undefined;

  constructor(private readonly decodeSeconds: number, private readonly now: () => number = () => performance.now()) {}

  /** Sampling begins (encoding and the latent upscale are behind, their time is not per step). */
  samplingStarted(): void {
    this.samplingStart = this.now();
  }

  /** Seconds left after `step` of `steps`; undefined before sampling has started. */
  afterStep(step: number, steps: number): number | undefined {
    if (this.samplingStart === undefined || step < 1) return undefined;
    const secondsPerStep = (this.now() - this.samplingStart) / 1000 / step;
    return secondsPerStep * Math.max(steps - step, 0) + this.decodeSeconds;
  }
}
