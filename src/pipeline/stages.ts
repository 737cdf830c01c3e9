import ort from 'onnxruntime-node';
import { floatTensor, tensorValues } from '../engine/tensors.js';
import { INPUTS, OUTPUTS, VAE_FACTOR, VAE_SCALE } from '../models/layout.js';
import type { StableDiffusionModel } from '../models/loader.js';
import { CONTEXT_LENGTH } from '../text/clip-tokenizer.js';
import { tiled, type Planar } from './tiles.js';

// One function per model call of the pipeline: text encoding, VAE encode/decode (tiled above a size),
// and the UNet's classifier-free-guided denoiser.

export interface TileOptions {
  /** Tile side in latent cells; images whose latent exceeds it on either side are processed in tiles. */
  readonly tile: number;
  /** Cells shared by neighbouring tiles and blended across. */
  readonly overlap: number;
}

async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
  const result = await session.run(feeds);
  return result[output] ?? Object.values(result)[0]!;
}

/** [uncond, cond] text embeddings, [2, 77, D] (the unconditional prompt first, as diffusers batches it). */
export async function encodePrompts(model: StableDiffusionModel, prompt: string, negativePrompt: string): Promise<{ embeddings: Float32Array; dims: number[] }> {
  const ids = [...model.tokenizer.encode(negativePrompt), ...model.tokenizer.encode(prompt)];
  const feed = model.textEncoderIds === 'int64'
    ? new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, CONTEXT_LENGTH])
    : new ort.Tensor('int32', Int32Array.from(ids), [2, CONTEXT_LENGTH]);
  const hidden = await run(model.sessions.text_encoder, { [INPUTS.text_encoder.ids]: feed }, OUTPUTS.text_encoder.hidden);
  return { embeddings: tensorValues(hidden), dims: [...hidden.dims] };
}

/** Image in [−1, 1], [3, H, W] with H, W multiples of 8 → latent mean × 0.18215, [4, H/8, W/8]. */
export async function vaeEncode(model: StableDiffusionModel, image: Planar, tiles: TileOptions): Promise<Planar> {
  const encodeTile = async (tile: Planar): Promise<Planar> => {
    const output = await run(model.sessions.vae_encoder, { [INPUTS.vae_encoder.image]: floatTensor(tile.data, model.precision, [1, 3, tile.height, tile.width]) }, model.vaeEncoderOutput);
    const [, channels, height, width] = output.dims as [number, number, number, number];
    // latent_parameters is mean ‖ logvar: the mean is the first 4 channels, and a deterministic encode uses it.
    const mean = tensorValues(output).subarray(0, 4 * height * width).map((v) => v * VAE_SCALE);
    if (channels !== 4 && channels !== 8) throw new Error(`vae_encoder gave ${channels} channels; expected 4 or 8`);
    return { channels: 4, height, width, data: mean };
  };
  return tiled(image, 4, 1 / VAE_FACTOR, tiles.tile * VAE_FACTOR, tiles.overlap * VAE_FACTOR, encodeTile);
}

/** Latent (scaled) [4, h, w] → image in [−1, 1], [3, 8h, 8w]. */
export async function vaeDecode(model: StableDiffusionModel, latent: Planar, tiles: TileOptions): Promise<Planar> {
  const decodeTile = async (tile: Planar): Promise<Planar> => {
    const unscaled = tile.data.map((v) => v / VAE_SCALE);
    const output = await run(model.sessions.vae_decoder, { [INPUTS.vae_decoder.latent]: floatTensor(unscaled, model.precision, [1, 4, tile.height, tile.width]) }, OUTPUTS.vae_decoder.image);
    const [, , height, width] = output.dims as [number, number, number, number];
    return { channels: 3, height, width, data: tensorValues(output) };
  };
  return tiled(latent, 3, VAE_FACTOR, tiles.tile, tiles.overlap, decodeTile);
}

/**
 * The CFG denoiser k-diffusion wraps around an ε-prediction UNet: the latent scaled by c_in = 1/√(σ²+1),
 * both prompts in one batch-2 call at timestep t(σ), ε = ε_u + scale·(ε_c − ε_u), denoised = x − σ·ε.
 */
export function guidedDenoiser(model: StableDiffusionModel, context: { embeddings: Float32Array; dims: number[] }, cfgScale: number, shape: readonly [number, number], timestep: (sigma: number) => number) {
  const [height, width] = shape;
  const size = 4 * height * width;
  return async (x: Float32Array, sigma: number): Promise<Float32Array> => {
    const scale = 1 / Math.sqrt(sigma ** 2 + 1);
    const scaled = x.map((v) => v * scale);
    const batch = new Float32Array(2 * size);
    batch.set(scaled, 0);
    batch.set(scaled, size);
    const t = timestep(sigma);
    const timesteps = model.timestepType === 'int64'
      ? new ort.Tensor('int64', BigInt64Array.from([BigInt(Math.round(t)), BigInt(Math.round(t))]), [2])
      : floatTensor(Float32Array.from([t, t]), model.timestepType, [2]);
    const eps = tensorValues(await run(model.sessions.unet, {
      [INPUTS.unet.sample]: floatTensor(batch, model.precision, [2, 4, height, width]),
      [INPUTS.unet.timestep]: timesteps,
      [INPUTS.unet.context]: floatTensor(context.embeddings, model.precision, context.dims),
    }, OUTPUTS.unet.noise));
    const denoised = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const guided = eps[i]! + cfgScale * (eps[size + i]! - eps[i]!);
      denoised[i] = x[i]! - sigma * guided;
    }
    return denoised;
  };
}
