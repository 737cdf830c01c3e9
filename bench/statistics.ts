// What the benchmarks report: medians of repeated runs and percentiles of latency samples.

/** The q-quantile (0–1) of samples, nearest rank. */
export function percentile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/**
 * The median ms of `repeats` runs after three warm-up runs (onnxruntime's pool threads, the allocator and
 * the JIT settle in the first few; one warm-up left the medians of short runs swinging by 5×).
 */
export async function median(repeats: number, run: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return percentile(times, 0.5);
}
