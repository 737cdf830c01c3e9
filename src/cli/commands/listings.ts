import { UPSCALE_METHODS } from '../../interpolation/methods.js';
import { SAMPLERS } from '../../samplers/catalog.js';
import { SCHEDULERS } from '../../schedules/schedulers.js';
import { parseCommandArgs, table } from '../options.js';
import type { Command } from './command.js';

/** A command that prints one registry, as an aligned table or, with --json, as JSON. */
function listing(name: string, summary: string, rows: () => { name: string; description: string }[]): Command {
  return {
    name,
    usage: `${name} [--json]`,
    summary,
    example: `latent-upscale ${name}`,
    async run(args, io) {
      const { values } = parseCommandArgs(args, { json: { type: 'boolean', default: false } }, []);
      io.stdout(values.json ? JSON.stringify(rows()) : table(rows().map((r) => [r.name, r.description])));
    },
  };
}

export const methodsCommand = listing('methods', 'list the latent upscale methods', () =>
  UPSCALE_METHODS.map((m) => ({ name: m.name, description: m.description, ...(m.aliasOf ? { alias_of: m.aliasOf } : {}) })));

export const schedulersCommand = listing('schedulers', 'list the sigma schedulers (A1111 labels accepted too)', () =>
  SCHEDULERS.map((s) => ({ name: s.name, description: s.description, ...(s.label ? { a1111_label: s.label } : {}) })));

export const samplersCommand = listing('samplers', 'list the samplers, their A1111 labels and automatic schedulers', () =>
  SAMPLERS.map((s) => ({ name: s.name, description: `${s.label}; automatic = ${s.automaticScheduler}; ${s.description}`, a1111_label: s.label })));
