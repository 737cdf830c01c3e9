import { UserError } from '../../errors.js';
import { convertCheckpoint } from '../../convert/convert.js';
import { FAMILY_NAMES, type FamilyName, type Prediction } from '../../models/families.js';
import { writeTestCheckpoint, type TestCheckpointSize } from '../../convert/test-checkpoint.js';
import type { StoragePrecision } from '../../convert/weights.js';
import { parseCommandArgs, parseInteger } from '../options.js';
import type { Command } from './command.js';

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UserError(`--${flag} must be one of ${allowed.join(', ')}; got '${value}'`, 'INVALID_ARGUMENT');
  return value as T;
}

const PRECISIONS: readonly StoragePrecision[] = ['fp16', 'fp32'];

export const convertCheckpointCommand: Command = {
  name: 'convert-checkpoint',
  usage: 'convert-checkpoint IN.safetensors OUT_DIR [--family auto|sd1|sd2|sdxl] [--prediction auto|eps|v] [--precision fp16|fp32] [--vae VAE.safetensors]',
  summary: 'convert a single-file SD 1.x / 2.x / SDXL checkpoint to the ONNX model folder MODELS_DIR reads (no Python)',
  example: 'latent-upscale convert-checkpoint ~/a1111/models/Stable-diffusion/sd_xl_base_1.0.safetensors models/sdxl',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      family: { type: 'string', default: 'auto' },
      prediction: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp16' },
      vae: { type: 'string' },
    }, ['IN.safetensors', 'OUT_DIR']);
    const summary = await convertCheckpoint(positionals[0]!, positionals[1]!, {
      family: oneOf<'auto' | FamilyName>('family', values.family, ['auto', ...FAMILY_NAMES]),
      prediction: oneOf<'auto' | Prediction>('prediction', values.prediction, ['auto', 'eps', 'v']),
      precision: oneOf('precision', values.precision, PRECISIONS),
      ...(values.vae === undefined ? {} : { vae: values.vae }),
      log: io.stderr,
    });
    io.stdout(JSON.stringify({ family: summary.family, prediction: summary.prediction, precision: summary.precision, bytes: summary.bytes, seconds: Number(summary.seconds.toFixed(2)) }));
  },
};

export const makeTestCheckpointCommand: Command = {
  name: 'make-test-checkpoint',
  usage: 'make-test-checkpoint OUT.safetensors --family sd1|sd2|sdxl [--size tiny|full] [--precision fp16|fp32] [--seed N]',
  summary: 'write a random-weight checkpoint with a real family\'s key names and block structure (tiny for tests, full-size for benchmarks)',
  example: 'latent-upscale make-test-checkpoint /tmp/sdxl-tiny.safetensors --family sdxl',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      family: { type: 'string' },
      size: { type: 'string', default: 'tiny' },
      precision: { type: 'string', default: 'fp32' },
      seed: { type: 'string', default: '0' },
    }, ['OUT.safetensors']);
    if (values.family === undefined) throw new UserError(`--family is required (one of ${FAMILY_NAMES.join(', ')})`, 'INVALID_ARGUMENT');
    const written = writeTestCheckpoint(positionals[0]!, {
      family: oneOf('family', values.family, FAMILY_NAMES),
      size: oneOf<TestCheckpointSize>('size', values.size, ['tiny', 'full']),
      precision: oneOf('precision', values.precision, PRECISIONS),
      seed: parseInteger('seed', values.seed)!,
    });
    io.stderr(`wrote ${positionals[0]}: ${written.tensors} tensors, ${(written.bytes / 1e6).toFixed(1)} MB`);
  },
};
