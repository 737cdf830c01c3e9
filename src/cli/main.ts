#!/usr/bin/env node
import '../gc-tuning.js';
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
});
// A finished command is the end of the process: a client library's late events from connections it has
// already closed (BullMQ's blocking Redis connection after `worker` stops) must not turn a clean stop
// into a crash.
process.stdout.write('', () => process.exit(code));
