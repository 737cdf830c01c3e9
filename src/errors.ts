/**
 * An error the caller caused (bad file, unknown name, impossible size). The CLI prints its message as one
 * line and exits non-zero; the HTTP layer answers with `status` (422 unless a more precise 4xx fits).
 * Anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override readonly name = 'UserError';

  constructor(message: string, readonly status: 400 | 404 | 409 | 413 | 415 | 422 = 422) {
    super(message);
  }
}

/** A backend (an A1111 instance, a model) failed: 502 it answered badly, 503 unreachable or busy, 504 too slow. */
export class BackendError extends Error {
  override readonly name = 'BackendError';

  constructor(message: string, readonly status: 502 | 503 | 504) {
    super(message);
  }
}

/** "unknown method 'foo' (allowed: a, b, c)": the shape every lookup failure takes. */
export function unknownName(field: string, value: string, allowed: readonly string[]): UserError {
  return new UserError(`unknown ${field} '${value}' (allowed: ${allowed.join(', ')})`);
}
