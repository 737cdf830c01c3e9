import type { Test } from 'tap';

/**
 * Why an outside reference a test compares against (PyTorch, numpy, chromium, redis-server) is missing,
 * or undefined when it is there. Without CI, a missing reference means a skip that says what to install;
 * under CI=true, where .ci/run installs every reference, it is a failure: a skip there would hide one.
 */
export function missingReference(missing: string | undefined): string | undefined {
  if (missing !== undefined && process.env['CI'] === 'true') throw new Error(`${missing}; .ci/run installs it, so under CI this is a failure`);
  return missing;
}

/** Skips the whole test file (tap reports it as skipped, with the reason) when the reference is missing. */
export function skipFileWithout(t: Test, missing: string | undefined): boolean {
  const reason = missingReference(missing);
  if (reason !== undefined) t.plan(0, reason);
  return reason !== undefined;
}
