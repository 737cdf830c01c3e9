import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with its errors turned into one-line user errors. */
export function parseCommandArgs<T extends Options>(args: readonly string[], options: T, positionals: readonly string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' ');
    const allowed = Object.keys(options).map((name) => `--${name}`).join(', ');
    throw new UserError((error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `${message} (allowed: ${allowed})` : message, 'INVALID_ARGUMENT');
  }
  if (parsed.positionals.length !== positionals.length) {
    throw new UserError(`expected ${positionals.length} argument(s) (${positionals.join(' ') || 'none'}), got ${parsed.positionals.length}`, 'INVALID_ARGUMENT');
  }
  return parsed;
}

export function parseNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UserError(`--${flag} must be a number; got '${text}'`, 'INVALID_ARGUMENT');
  return value;
}

export function parseInteger(flag: string, text: string | undefined): number | undefined {
  const value = parseNumber(flag, text);
  if (value !== undefined && !Number.isInteger(value)) throw new UserError(`--${flag} must be an integer; got '${text}'`, 'INVALID_ARGUMENT');
  return value;
}

/** Name/description rows as aligned text, for the listing commands. */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, text]) => `${name.padEnd(width)}  ${text}`).join('\n');
}
