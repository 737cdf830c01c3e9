/**
 * An error the caller caused (bad file, unknown name, impossible size). The CLI prints its message as one
 * line and exits non-zero; the HTTP layer maps it to a 4xx. Anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** "unknown method 'foo' (allowed: a, b, c)": the shape every lookup failure takes. */
export function unknownName(field: string, value: string, allowed: readonly string[]): UserError {
  return new UserError(`unknown ${field} '${value}' (allowed: ${allowed.join(', ')})`);
}
