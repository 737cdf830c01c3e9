import { SessionPool, parseProviders } from '../../engine/session-pool.js';
import { resizeLatent } from '../../engine/resize.js';
import { UserError } from '../../errors.js';
import { readLatentFile, writeLatentFile } from '../../formats/latent-file.js';
import { UPSCALE_METHOD_NAMES } from '../../interpolation/methods.js';
import { latentTargetSize } from '../../latent/target-size.js';
import { parseCommandArgs, parseInteger, parseNumber } from '../options.js';
import type { Command } from './command.js';

export const resizeLatentCommand: Command = {
  name: 'resize-latent',
  usage: 'resize-latent IN OUT --method M (--width W --height H | --scale F) [--providers cuda,cpu]',
  summary: 'resize a .npy/.safetensors/.latent latent; W and H in latent cells, F rounds like ComfyUI\'s LatentUpscaleBy',
  example: 'latent-upscale resize-latent in.latent out.latent --method nearest-exact --scale 2',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      method: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      scale: { type: 'string' },
      providers: { type: 'string', default: process.env['EXECUTION_PROVIDERS'] ?? 'cpu' },
    }, ['IN', 'OUT']);
    const [inputPath, outputPath] = positionals as [string, string];
    if (values.method === undefined) throw new UserError(`--method is required (allowed: ${UPSCALE_METHOD_NAMES.join(', ')})`, 'INVALID_ARGUMENT');
    const pool = new SessionPool({ providers: parseProviders(values.providers), intraOpThreads: 0 });
    const input = await readLatentFile(inputPath);
    const [, , height, width] = input.latent.shape;
    const target = latentTargetSize({ height, width }, {
      scale: parseNumber('scale', values.scale), width: parseInteger('width', values.width), height: parseInteger('height', values.height),
    });
    const started = performance.now();
    const result = await resizeLatent(pool, input.latent, values.method, target.height, target.width);
    const elapsed = performance.now() - started;
    await writeLatentFile(outputPath, { latent: result.latent, element: input.element });
    for (const fallback of result.fallbacks) io.stderr(`note: ${fallback}`);
    io.stderr(`resized [${input.latent.shape.join(', ')}] to [${result.latent.shape.join(', ')}] with ${values.method} on ${result.provider} in ${elapsed.toFixed(1)} ms -> ${outputPath}`);
    await pool.release();
  },
};
