import type { LogDestination } from '../../src/http/logging.js';

export interface CapturedLog {
  /** Hand this to buildApp's `logStream`: the service logs as configured, into memory. */
  readonly stream: LogDestination;
  /** Everything written so far. */
  text(): string;
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  return { stream: { write: (line) => void lines.push(line) }, text: () => lines.join('') };
}
