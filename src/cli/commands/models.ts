import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { encodeNpy } from '../../formats/npy.js';
import { latent, latentShape } from '../../latent/tensor.js';
import { familyNamed } from '../../models/families.js';
import { readPadId } from '../../models/loader.js';
import { writeTestModel } from '../../models/test-model.js';
import { TorchGenerator } from '../../random/torch-generator.js';
import { ClipTokenizer, byteVocabulary } from '../../text/clip-tokenizer.js';
import { readClipVocabulary } from '../../text/clip-vocabulary.js';
import { parseCommandArgs, parseInteger } from '../options.js';
import type { Command } from './command.js';

export const makeTestModelCommand: Command = {
  name: 'make-test-model',
  usage: 'make-test-model DIR [--family sd1|sd2|sdxl] [--prediction eps|v] [--max-clip-skip N] [--fp16] [--vae-parameters] [--timestep float|int64] [--external-data] [--clip-bpe PATH.gz] [--hidden N] [--unet-channels N] [--unet-depth N] [--seed N]',
  summary: 'write a tiny random-weight SD 1.x, 2.x or SDXL model in the diffusers ONNX layout (for tests and benchmarks)',
  example: 'latent-upscale make-test-model models/tiny --fp16 --external-data',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      family: { type: 'string', default: 'sd1' },
      prediction: { type: 'string', default: 'eps' },
      'max-clip-skip': { type: 'string', default: '1' },
      fp16: { type: 'boolean', default: false },
      'vae-parameters': { type: 'boolean', default: false },
      timestep: { type: 'string', default: 'float' },
      'external-data': { type: 'boolean', default: false },
      'clip-bpe': { type: 'string' },
      hidden: { type: 'string', default: '16' },
      'unet-channels': { type: 'string', default: '8' },
      'unet-depth': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
    }, ['DIR']);
    if (values.timestep !== 'float' && values.timestep !== 'int64') throw new UserError(`--timestep must be float or int64; got '${values.timestep}'`, 'INVALID_ARGUMENT');
    if (values.prediction !== 'eps' && values.prediction !== 'v') throw new UserError(`--prediction must be eps or v; got '${values.prediction}'`, 'INVALID_ARGUMENT');
    const positive = (flag: string, text: string): number => {
      const value = parseInteger(flag, text)!;
      if (value < 1) throw new UserError(`--${flag} must be at least 1; got ${value}`, 'INVALID_ARGUMENT');
      return value;
    };
    let vocabulary = byteVocabulary();
    if (values['clip-bpe'] !== undefined) {
      try {
        vocabulary = await readClipVocabulary(values['clip-bpe']);
      } catch (error) {
        throw new UserError(`--clip-bpe ${values['clip-bpe']}: ${(error as Error).message}`, 'FILE_UNREADABLE');
      }
    }
    const directory = positionals[0]!;
    await writeTestModel(directory, {
      family: familyNamed(values.family).name,
      prediction: values.prediction,
      maxClipSkip: positive('max-clip-skip', values['max-clip-skip']),
      precision: values.fp16 ? 'fp16' : 'fp32',
      vaeEncoderOutput: values['vae-parameters'] ? 'latent_parameters' : 'latent_sample',
      timestep: values.timestep,
      externalData: values['external-data'],
      hiddenSize: positive('hidden', values.hidden),
      unetChannels: positive('unet-channels', values['unet-channels']),
      unetDepth: positive('unet-depth', values['unet-depth']),
      vocabulary,
      seed: parseInteger('seed', values.seed)!,
    });
    io.stderr(`wrote a test model to ${directory} (${join(directory, 'model_index.json')})`);
  },
};

/** 1 GiB of float32: far past any latent, and what one .npy write comfortably holds. */
const MAX_NOISE_VALUES = 2 ** 28;

export const noiseCommand: Command = {
  name: 'noise',
  usage: 'noise --seed S --shape B,C,H,W OUT.npy',
  summary: 'write the onnx backend\'s noise: torch.randn\'s CPU stream after torch.manual_seed(S) (A1111\'s CPU RNG source), within 3e-6',
  example: 'latent-upscale noise --seed 42 --shape 1,4,64,64 noise.npy',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { seed: { type: 'string' }, shape: { type: 'string' } }, ['OUT.npy']);
    if (values.seed === undefined || !/^\d+$/.test(values.seed)) throw new UserError(`--seed must be a non-negative integer; got '${values.seed ?? ''}'`, 'INVALID_ARGUMENT');
    const shape = latentShape((values.shape ?? '').split(',').map((s) => Number(s.trim())));
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > MAX_NOISE_VALUES) throw new UserError(`--shape [${shape.join(', ')}] has ${count} values; the limit is ${MAX_NOISE_VALUES}`, 'INVALID_ARGUMENT');
    const noise = new TorchGenerator(BigInt(values.seed)).randn(count);
    await writeFile(positionals[0]!, encodeNpy(latent(shape, noise)));
    io.stderr(`wrote torch.randn([${shape.join(', ')}]) for seed ${values.seed} to ${positionals[0]}`);
  },
};

export const tokenizeCommand: Command = {
  name: 'tokenize',
  usage: 'tokenize --model DIR "prompt"',
  summary: 'print the 77 CLIP token ids the model\'s tokenizer gives the prompt (padded with its pad token), as JSON',
  example: 'latent-upscale tokenize --model models/sd15 "a photo of a cat"',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { model: { type: 'string' } }, ['PROMPT']);
    if (values.model === undefined) throw new UserError('--model is required (a diffusers model folder with tokenizer/vocab.json and merges.txt)', 'INVALID_ARGUMENT');
    const folder = join(values.model, 'tokenizer');
    const tokenizer = await ClipTokenizer.fromDirectory(folder);
    io.stdout(JSON.stringify(tokenizer.encode(positionals[0]!, { padId: await readPadId(folder, tokenizer) })));
  },
};
