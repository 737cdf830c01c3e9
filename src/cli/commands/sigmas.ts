import { img2imgSchedule } from '../../schedules/img2img-steps.js';
import { chooseSampler } from '../../schedules/sampler-choice.js';
import { sigmaTableNamed } from '../../schedules/sigma-table.js';
import { DEFAULT_SAMPLER } from '../../samplers/catalog.js';
import { UserError } from '../../errors.js';
import { parseCommandArgs, parseInteger, parseNumber } from '../options.js';
import type { Command } from './command.js';

export const sigmasCommand: Command = {
  name: 'sigmas',
  usage: 'sigmas --steps N [--scheduler S] [--denoise D] [--no-fix-steps] [--sampler NAME] [--table sd1|sdxl]',
  summary: 'print the img2img sigma schedule as JSON: first = starting sigma, last = 0',
  example: 'latent-upscale sigmas --scheduler karras --steps 30 --denoise 0.4 --sampler "DPM++ 2M"',
  async run(args, io) {
    const { values } = parseCommandArgs(args, {
      scheduler: { type: 'string' },
      steps: { type: 'string' },
      denoise: { type: 'string', default: '1' },
      'no-fix-steps': { type: 'boolean', default: false },
      sampler: { type: 'string', default: DEFAULT_SAMPLER },
      table: { type: 'string', default: 'sd1' },
    }, []);
    const steps = parseInteger('steps', values.steps);
    if (steps === undefined) throw new UserError('--steps is required', 'INVALID_ARGUMENT');
    const denoise = parseNumber('denoise', values.denoise)!;
    const fixSteps = !values['no-fix-steps'];
    const choice = chooseSampler(values.sampler, values.scheduler, 'automatic');
    const schedule = img2imgSchedule({
      scheduler: choice.scheduler, steps, denoise, fixSteps, sampler: choice.sampler.name, table: sigmaTableNamed(values.table),
    });
    io.stdout(JSON.stringify({
      sigmas: schedule.sigmas,
      scheduler: schedule.scheduler,
      sampler: schedule.sampler,
      steps,
      denoise,
      fix_steps: fixSteps,
      steps_run: schedule.sigmas.length - 1,
      schedule_steps: schedule.scheduleSteps,
      full_sigmas: schedule.fullSigmas,
    }));
  },
};
