import ort from 'onnxruntime-node';
import { floatTensor, tensorValues } from '../engine/tensors.js';
import { clipSkipRefusal, type Conditioning, type ConditioningRequest, type Embedding, type Prediction } from '../models/families.js';
import { INPUTS, LATENT_CHANNELS, OUTPUTS, VAE_FACTOR } from '../models/layout.js';
import type { LoadedTextEncoder, StableDiffusionModel } from '../models/loader.js';
import { CONTEXT_LENGTH } from '../text/clip-tokenizer.js';
import { tiled, type Planar } from './tiles.js';

// One function per model call of the pipeline: text encoding (by the model family's rule), VAE
// encode/decode (tiled above a size), and the UNet's classifier-free-guided denoiser.

export interface TileOptions {
  /** Tile side in latent cells; images whose latent exceeds it on either side are processed in tiles. */
  readonly tile: number;
  /** Cells shared by neighbouring tiles and blended across. */
  readonly overlap: number;
}

/**
 * The named outputs of one run, computing only those. onnxruntime-node (1.23) labels the results of a
 * partial fetch with the session's first output names, in the model's output order
 * (microsoft/onnxruntime#26865), so the outputs are fetched in that order and matched by position
 * unless the result names them all.
 */
async function runFetching(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, outputs: readonly string[]): Promise<ort.Tensor[]> {
  const ordered = [...outputs].sort((a, b) => session.outputNames.indexOf(a) - session.outputNames.indexOf(b));
  const result = await session.run(feeds, ordered);
  const inModelOrder = outputs.every((name) => name in result) ? undefined : Object.values(result);
  return outputs.map((name) => (inModelOrder ? inModelOrder[ordered.indexOf(name)]! : result[name]!));
}

async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
  return (await runFetching(session, feeds, [output]))[0]!;
}

/** A text encoder on `texts`, one batch row each (its own pad id and ids type), fetching only `outputs`. */
export async function runTextEncoder(encoder: LoadedTextEncoder, texts: readonly string[], outputs: readonly string[]): Promise<Embedding[]> {
  const ids = texts.flatMap((text) => encoder.tokenizer.encode(text, { padId: encoder.padId }));
  const dims = [texts.length, CONTEXT_LENGTH];
  const feed = encoder.ids === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), dims) : new ort.Tensor('int32', Int32Array.from(ids), dims);
  const tensors = await runFetching(encoder.session, { [INPUTS.text_encoder.ids]: feed }, outputs);
  return tensors.map((tensor) => ({ data: tensorValues(tensor), dims: [...tensor.dims] }));
}

/** The UNet's conditioning for [negative prompt, prompt] by the model family's rule. */
export async function encodePrompts(model: StableDiffusionModel, request: ConditioningRequest): Promise<Conditioning> {
  const refusal = clipSkipRefusal(model.name, model.family, model.maxClipSkip, request.clipSkip);
  if (refusal) throw refusal;
  return model.family.condition(model.textEncoders, (index, texts, outputs) => runTextEncoder(model.textEncoders[index]!, texts, outputs), request);
}

/** Image in [−1, 1], [3, H, W] with H, W multiples of 8 → latent mean × the model's VAE scale, [4, H/8, W/8]. */
export async function vaeEncode(model: StableDiffusionModel, image: Planar, tiles: TileOptions): Promise<Planar> {
  const encodeTile = async (tile: Planar): Promise<Planar> => {
    const output = await run(model.sessions.vae_encoder, { [INPUTS.vae_encoder.image]: floatTensor(tile.data, model.vaeEncoderPrecision, [1, 3, tile.height, tile.width]) }, model.vaeEncoderOutput);
    const [, channels, height, width] = output.dims as [number, number, number, number];
    // latent_parameters is mean ‖ logvar: the mean is the first 4 channels, and a deterministic encode uses it.
    const mean = tensorValues(output).subarray(0, LATENT_CHANNELS * height * width).map((v) => v * model.vaeScale);
    if (channels !== LATENT_CHANNELS && channels !== 2 * LATENT_CHANNELS) throw new Error(`vae_encoder gave ${channels} channels; expected 4 or 8`);
    return { channels: LATENT_CHANNELS, height, width, data: mean };
  };
  return tiled(image, LATENT_CHANNELS, 1 / VAE_FACTOR, tiles.tile * VAE_FACTOR, tiles.overlap * VAE_FACTOR, encodeTile);
}

/** Latent (scaled) [4, h, w] → image in [−1, 1], [3, 8h, 8w]; non-finite pixels fail with their likely cause. */
export async function vaeDecode(model: StableDiffusionModel, latent: Planar, tiles: TileOptions): Promise<Planar> {
  const decodeTile = async (tile: Planar): Promise<Planar> => {
    const unscaled = tile.data.map((v) => v / model.vaeScale);
    const output = await run(model.sessions.vae_decoder, { [INPUTS.vae_decoder.latent]: floatTensor(unscaled, model.vaeDecoderPrecision, [1, LATENT_CHANNELS, tile.height, tile.width]) }, OUTPUTS.vae_decoder.image);
    const [, , height, width] = output.dims as [number, number, number, number];
    const pixels = tensorValues(output);
    if (!pixels.every(Number.isFinite)) throw new Error(nonFiniteDecode(model));
    return { channels: 3, height, width, data: pixels };
  };
  return tiled(latent, 3, VAE_FACTOR, tiles.tile, tiles.overlap, decodeTile);
}

/** Why a decode gave inf/NaN: float16 overflow where the decoder takes float16 (see ModelFamily.fp16VaeRemedy). */
function nonFiniteDecode(model: StableDiffusionModel): string {
  const where = `model '${model.name}': the VAE decode gave non-finite values (inf/NaN)`;
  if (model.vaeDecoderPrecision !== 'float16') return `${where} although its vae_decoder takes float32: the latent was out of the VAE's range`;
  const remedy = model.family.fp16VaeRemedy;
  return `${where}: float16 overflow in the ${model.family.label} VAE decoder${remedy ? ` (it overflows in fp16); use ${remedy}` : '; export the VAE in fp32'}`;
}

/**
 * k-diffusion's scalings of a discrete-time UNet with σ_data = 1 (k_diffusion/external.py: DiscreteEpsDDPMDenoiser
 * for ε, DiscreteVDDPMDenoiser — CompVisVDenoiser — for v): denoised = x·c_skip + model_out·c_out, both
 * with the input scaled by c_in = 1/√(σ²+1).
 */
const SCALINGS: Readonly<Record<Prediction, (sigma: number) => { skip: number; out: number }>> = {
  eps: (sigma) => ({ skip: 1, out: -sigma }),
  v: (sigma) => ({ skip: 1 / (sigma ** 2 + 1), out: -sigma / Math.sqrt(sigma ** 2 + 1) }),
};

/**
 * The CFG denoiser k-diffusion wraps around the UNet: the latent scaled by c_in, both halves of the
 * conditioning in one batch-2 call at timestep t(σ), out = out_u + scale·(out_c − out_u), then the
 * model's prediction scalings.
 */
export function guidedDenoiser(model: StableDiffusionModel, conditioning: Conditioning, cfgScale: number, shape: readonly [number, number], timestep: (sigma: number) => number) {
  const [height, width] = shape;
  const size = LATENT_CHANNELS * height * width;
  const conditioningFeeds = Object.fromEntries(Object.entries({ [INPUTS.unet.context]: conditioning.context, ...conditioning.extra })
    .map(([name, value]) => [name, floatTensor(value.data, model.conditioningTypes[name]!, value.dims)]));
  const scalings = SCALINGS[model.prediction];
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
    const out = tensorValues(await run(model.sessions.unet, {
      [INPUTS.unet.sample]: floatTensor(batch, model.precision, [2, LATENT_CHANNELS, height, width]),
      [INPUTS.unet.timestep]: timesteps,
      ...conditioningFeeds,
    }, OUTPUTS.unet.noise));
    const { skip, out: outScale } = scalings(sigma);
    const denoised = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const guided = out[i]! + cfgScale * (out[size + i]! - out[i]!);
      denoised[i] = x[i]! * skip + guided * outScale;
    }
    return denoised;
  };
}
