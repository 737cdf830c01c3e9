import { UserError } from '../errors.js';
import { convertCheckpointCommand, makeTestCheckpointCommand } from './commands/checkpoints.js';
import type { Command, CommandIO } from './commands/command.js';
import { methodsCommand, samplersCommand, schedulersCommand } from './commands/listings.js';
import { makeTestModelCommand, noiseCommand, tokenizeCommand } from './commands/models.js';
import { resizeLatentCommand } from './commands/resize-latent.js';
import { sigmasCommand } from './commands/sigmas.js';
import { workerCommand } from './commands/worker.js';

export const COMMANDS: readonly Command[] = [
  resizeLatentCommand, sigmasCommand, methodsCommand, schedulersCommand, samplersCommand, noiseCommand, tokenizeCommand, makeTestModelCommand,
  convertCheckpointCommand, makeTestCheckpointCommand, workerCommand,
];

function help(): string {
  return [
    'usage: latent-upscale COMMAND [options]',
    '',
    ...COMMANDS.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`, `      e.g. ${c.example}`]),
  ].join('\n');
}

/** Runs one CLI invocation and returns the exit code: 0 ok, 2 bad input, 1 internal failure. */
export async function runCli(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    if (name === undefined) {
      io.stderr(help());
      return 2;
    }
    io.stdout(help());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (command === undefined) throw new UserError(`unknown command '${name}' (allowed: ${COMMANDS.map((c) => c.name).join(', ')})`, 'INVALID_ARGUMENT');
    await command.run(args, io);
    return 0;
  } catch (error) {
    if (error instanceof UserError) {
      io.stderr(`latent-upscale: ${error.message}`);
      return 2;
    }
    io.stderr(`latent-upscale: internal error: ${(error as Error).message} (set LATENT_UPSCALE_DEBUG=1 for the stack)`);
    if (process.env['LATENT_UPSCALE_DEBUG']) io.stderr(String((error as Error).stack));
    return 1;
  }
}

