import { SessionPool, parseProviders } from '../../engine/session-pool.js';
import { resizeLatent } from '../../engine/resize.js';
import { UserError } from '../../errors.js';
import { readLatentFile, writeLatentFile } from '../../formats/latent-file.js';
import { UPSCALE_METHOD_NAMES } from '../../interpolation/methods.js';
import { roundHalfEven } from '../../latent/rounding.js';
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
    if (values.method === undefined) throw new UserError(`--method is required (allowed: ${UPSCALE_METHOD_NAMES.join(', ')})`);
    const pool = new SessionPool({ providers: parseProviders(values.providers), intraOpThreads: 0 });
    const input = await readLatentFile(inputPath);
    const [, , height, width] = input.latent.shape;
    const target = targetSize(height, width, values);
    const started = performance.now();
    const result = await resizeLatent(pool, input.latent, values.method, target.height, target.width);
    const elapsed = performance.now() - started;
    await writeLatentFile(outputPath, { latent: result.latent, element: input.element });
    for (const fallback of result.fallbacks) io.stderr(`note: ${fallback}`);
    io.stderr(`resized [${input.latent.shape.join(', ')}] to [${result.latent.shape.join(', ')}] with ${values.method} on ${result.provider} in ${elapsed.toFixed(1)} ms -> ${outputPath}`);
    await pool.release();
  },
};

function targetSize(height: number, width: number, values: { width?: string; height?: string; scale?: string }): { height: number; width: number } {
  const scale = parseNumber('scale', values.scale);
  const targetWidth = parseInteger('width', values.width);
  const targetHeight = parseInteger('height', values.height);
  if (scale !== undefined) {
    if (targetWidth !== undefined || targetHeight !== undefined) throw new UserError('give either --scale or --width and --height, not both');
    if (scale <= 0) throw new UserError(`--scale must be positive; got ${scale}`);
    // ComfyUI's LatentUpscaleBy uses Python's round(), so 3 × 1.5 gives 4 there and here.
    return { height: roundHalfEven(height * scale), width: roundHalfEven(width * scale) };
  }
  if (targetWidth === undefined || targetHeight === undefined) throw new UserError('give --width and --height (latent cells), or --scale');
  return { height: targetHeight, width: targetWidth };
}

