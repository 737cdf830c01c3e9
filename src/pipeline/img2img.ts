import type { GenerationSettings, PreviewRequest } from '../backends/backend.js';
import { resizeLatent } from '../engine/resize.js';
import type { SessionPool } from '../engine/session-pool.js';
import type { RgbImage } from '../images/decode.js';
import { latent as latentTensor } from '../latent/tensor.js';
import { LATENT_CHANNELS, VAE_FACTOR } from '../models/layout.js';
import type { StableDiffusionModel } from '../models/loader.js';
import { TorchGenerator } from '../random/torch-generator.js';
import { NATIVE_SAMPLERS } from '../samplers/k-diffusion.js';
import { img2imgSchedule } from '../schedules/img2img-steps.js';
import { sigmaTableNamed, sigmaToTimestep } from '../schedules/sigma-table.js';
import { encodePrompts, guidedDenoiser, vaeDecode, vaeEncode, type TileOptions } from './stages.js';
import { cheapPreview, isPreviewStep } from './preview.js';
import { crop, padToMultiple, type Planar } from './tiles.js';

export interface Img2imgRequest extends GenerationSettings {
  readonly image: RgbImage;
  /** A native sampler's name (see NATIVE_SAMPLERS). */
  readonly sampler: string;
  /** Live previews through hooks.onPreview; none when absent or off. */
  readonly preview?: PreviewRequest;
}

export interface Img2imgHooks {
  /** Sampling is about to begin: what follows is `steps` onStep calls, then the decode. */
  readonly onSampling?: () => void;
  /** After each sampling step; throwing (e.g. on cancel) stops the run between steps. */
  readonly onStep?: (step: number, steps: number) => void | Promise<void>;
  /** A preview of the current denoised estimate, after the steps the request's preview asks for. */
  readonly onPreview?: (step: number, steps: number, image: RgbImage) => void | Promise<void>;
  /** Seconds spent in each stage: encode (text and VAE), upscale, sampling, decode. */
  readonly onStage?: (stage: 'encode' | 'upscale' | 'sampling' | 'decode', seconds: number) => void;
}

/** Latent cells the UNet wants per side: real SD UNets downsample three times, so 64-pixel multiples. */
const UNET_MULTIPLE = 8;

/**
 * A1111's latent-upscale img2img, natively: encode at the input size, upscale the latent with the chosen
 * method, noise with the seed's torch.randn at σ₀, sample the chosen schedule (on the model family's sigma
 * table) with CFG, decode, 8-bit RGB.
 */
export async function runImg2img(model: StableDiffusionModel, engine: SessionPool, request: Img2imgRequest, tiles: TileOptions, hooks: Img2imgHooks = {}): Promise<RgbImage> {
  const table = sigmaTableNamed(model.family.sigmaTable);
  const schedule = img2imgSchedule({
    scheduler: request.scheduler, steps: request.steps, denoise: request.denoise, fixSteps: request.fixSteps, sampler: request.sampler, table,
  });
  let mark = performance.now();
  const stageDone = (stage: 'encode' | 'upscale' | 'sampling' | 'decode'): void => {
    const now = performance.now();
    hooks.onStage?.(stage, (now - mark) / 1000);
    mark = now;
  };
  const conditioning = await encodePrompts(model, request);

  // Encode at the input size (padded to whole latent cells), as A1111 does for resize mode 3.
  const input = padToMultiple(toPlanar(request.image), VAE_FACTOR);
  const encoded = await vaeEncode(model, input, tiles);
  const cellsHigh = Math.ceil(request.image.height / VAE_FACTOR);
  const cellsWide = Math.ceil(request.image.width / VAE_FACTOR);
  const latent = crop(encoded, 0, 0, cellsHigh, cellsWide);
  stageDone('encode');

  const targetHeight = request.height / VAE_FACTOR;
  const targetWidth = request.width / VAE_FACTOR;
  const upscaled = await resizeLatent(engine, latentTensor([1, LATENT_CHANNELS, latent.height, latent.width], latent.data), request.method, targetHeight, targetWidth);
  stageDone('upscale');

  const generator = new TorchGenerator(request.seed);
  const noise = generator.randn(LATENT_CHANNELS * targetHeight * targetWidth);
  const sigma0 = schedule.sigmas[0]!;
  const start = upscaled.latent.data.map((v, i) => v + noise[i]! * sigma0);

  // Pad for the UNet, sample, crop back. Ancestral/SDE noise continues the seed's stream at the padded size.
  const padded = padToMultiple({ channels: LATENT_CHANNELS, height: targetHeight, width: targetWidth, data: start }, UNET_MULTIPLE);
  const guided = guidedDenoiser(model, conditioning, request.cfgScale, [padded.height, padded.width], (sigma) => sigmaToTimestep(table, sigma));
  // The last denoised estimate is what a preview shows (as A1111 previews k-diffusion's `denoised`).
  let denoised: Float32Array | undefined;
  const denoiser: typeof guided = async (x, sigma) => (denoised = await guided(x, sigma));
  const steps = schedule.sigmas.length - 1;
  // A preview that fails (a JPEG error, a full decode out of memory) ends previews for this job, not the job.
  let preview = request.preview;
  hooks.onSampling?.();
  const sampled = await NATIVE_SAMPLERS[schedule.sampler]!(padded.data, denoiser, {
    sigmas: schedule.sigmas,
    noise: () => generator.randn(padded.data.length),
    onStep: async (step) => {
      await hooks.onStep?.(step, steps);
      if (preview === undefined || preview.mode === 'off' || hooks.onPreview === undefined || denoised === undefined || !isPreviewStep(step, steps, preview.every)) return;
      const estimate = crop({ ...padded, data: denoised }, 0, 0, targetHeight, targetWidth);
      try {
        await hooks.onPreview(step, steps, preview.mode === 'cheap' ? cheapPreview(estimate, model.family.previewFactors) : toRgb(await vaeDecode(model, estimate, tiles)));
      } catch {
        preview = undefined;
      }
    },
  });
  const result = crop({ ...padded, data: sampled }, 0, 0, targetHeight, targetWidth);
  stageDone('sampling');
  const decoded = toRgb(await vaeDecode(model, result, tiles));
  stageDone('decode');
  return decoded;
}

/** 8-bit RGB → [3, H, W] in [−1, 1]. */
export function toPlanar(image: RgbImage): Planar {
  const { width, height, pixels } = image;
  const data = new Float32Array(3 * width * height);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) data[c * width * height + i] = (pixels[i * 3 + c]! / 255) * 2 - 1;
  return { channels: 3, height, width, data };
}

/** [3, H, W] in [−1, 1] → 8-bit RGB, clipped and rounded as diffusers' (x/2 + 0.5)·255. */
export function toRgb(image: Planar): RgbImage {
  const { width, height, data } = image;
  const pixels = new Uint8Array(3 * width * height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) pixels[i * 3 + c] = Math.round(Math.min(Math.max(data[c * width * height + i]! / 2 + 0.5, 0), 1) * 255);
  }
  return { width, height, pixels };
}
