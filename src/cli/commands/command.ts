export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly example: string;
  /** Writes its result to stdout; throws UserError on bad input. */
  readonly run: (args: readonly string[], io: CommandIO) => Promise<void>;
}

export interface CommandIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}
