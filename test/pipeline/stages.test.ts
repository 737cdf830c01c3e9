import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t from 'tap';
import { GraphBuilder } from '../../src/engine/onnx/graph-builder.js';
import { encodeModel } from '../../src/engine/onnx/model.js';
import { SessionPool } from '../../src/engine/session-pool.js';
import type { Conditioning } from '../../src/models/families.js';
import { loadModel } from '../../src/models/loader.js';
import { encodePrompts, guidedDenoiser, vaeDecode } from '../../src/pipeline/stages.js';
import { modelsFolder } from '../helpers/models.js';

const root = await modelsFolder(t, {
  v: { prediction: 'v' }, eps: {}, sdxl: { family: 'sdxl' }, sdxlHalf: { family: 'sdxl', precision: 'fp16' }, skips: { maxClipSkip: 3 }, sd2: { family: 'sd2' },
});
const pool = new SessionPool();
t.teardown(() => pool.release());
const NO_TILES = { tile: 1024, overlap: 16 };

// The byte vocabulary of the test models: printable bytes first by code point ('!' 0, 'a' 64), the same
// with </w> from 256, <|startoftext|> 512, <|endoftext|> 513. Ids written out here, not by the tokenizer.
const START = 512;
const END = 513;
const A_CAT = [START, 256 + 64, 66, 64, 256 + 83, END]; // "a</w>" "c" "a" "t</w>"
const BLURRY = [START, 65, 75, 84, 81, 81, 256 + 88, END]; // "b" "l" "u" "r" "r" "y</w>"
const padded = (ids: readonly number[], pad: number): number[] => [...ids, ...Array<number>(77 - ids.length).fill(pad)];

/** A fresh session of the file, every output computed (no partial fetch: see runFetching in stages.ts), the named ones returned. */
async function rawRun(directory: string, component: string, feeds: Record<string, ort.Tensor>, outputs: string[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(join(directory, component, 'model.onnx'));
  const result = await session.run(feeds);
  await session.release();
  return outputs.map((name) => result[name]!.data as Float32Array);
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

t.test('the denoiser applies k-diffusion\'s ε and v scalings to a UNet whose output is known', async (t) => {
  // A UNet computing out = 2·sample + 0.5 + mean(encoder_hidden_states of its batch row).
  const g = new GraphBuilder('unet');
  const mean = g.op('ReduceMean', ['encoder_hidden_states'], { axes: { ints: [1, 2] }, keepdims: { int: 1 } });
  const out = g.op('Add', [g.op('Add', [g.op('Mul', ['sample', g.floats([2])]), g.floats([0.5])]), g.op('Reshape', [mean, g.int64s([-1, 1, 1, 1])])]);
  const unet = encodeModel(g.build(
    [
      { name: 'sample', type: 'float32', shape: ['batch', 4, 'height', 'width'] },
      { name: 'timestep', type: 'float32', shape: ['batch'] },
      { name: 'encoder_hidden_states', type: 'float32', shape: ['batch', 'sequence', 16] },
    ],
    [{ name: 'out_sample', from: out, type: 'float32', shape: ['batch', 4, 'height', 'width'] }],
  ));
  const [uncondMean, condMean, cfg] = [0.1, 0.3, 7];
  const context = new Float32Array(2 * 77 * 16);
  context.fill(uncondMean, 0, 77 * 16);
  context.fill(condMean, 77 * 16);
  const conditioning: Conditioning = { context: { data: context, dims: [2, 77, 16] }, extra: {} };
  const x = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => Math.sin(i) * 2);

  for (const prediction of ['v', 'eps'] as const) {
    await writeFile(join(root, prediction, 'unet', 'model.onnx'), unet);
    const model = await loadModel(join(root, prediction), prediction, pool);
    t.equal(model.prediction, prediction);
    const denoise = guidedDenoiser(model, conditioning, cfg, [2, 3], () => 500);
    for (const sigma of [0.3, 2.5, 14.6]) {
      const cIn = 1 / Math.sqrt(sigma ** 2 + 1);
      const expected = Array.from(x, (xi) => {
        const [outU, outC] = [2 * xi * cIn + 0.5 + uncondMean, 2 * xi * cIn + 0.5 + condMean];
        const guided = outU + cfg * (outC - outU);
        // CompVisVDenoiser: c_skip = 1/(σ²+1), c_out = −σ/√(σ²+1); CompVisDenoiser: c_skip = 1, c_out = −σ.
        return prediction === 'v' ? xi / (sigma ** 2 + 1) - (sigma / Math.sqrt(sigma ** 2 + 1)) * guided : xi - sigma * guided;
      });
      const worst = maxDifference(await denoise(x, sigma), expected);
      t.ok(worst < 1e-4, `${prediction}, σ ${sigma}: max |denoised − formula| = ${worst.toExponential(2)}`);
    }
  }
});

t.test('SDXL: both encoders\' penultimate layers side by side, bigG\'s pooled vector, target-size time_ids, zeros for an empty negative', async (t) => {
  const directory = join(root, 'sdxl');
  const model = await loadModel(directory, 'sdxl', pool);
  const [width, height] = [104, 72];
  const conditioning = await encodePrompts(model, { prompt: 'a cat', negativePrompt: '', clipSkip: 1, width, height });

  // The same by hand on the raw sessions: CLIP-L (int32 ids, padded with <|endoftext|>) and bigG (int64, padded with "!").
  const [clipL] = await rawRun(directory, 'text_encoder', { input_ids: new ort.Tensor('int32', Int32Array.from(padded(A_CAT, END)), [1, 77]) }, ['hidden_states.1']);
  const [bigG, pooled] = await rawRun(directory, 'text_encoder_2', { input_ids: new ort.Tensor('int64', BigInt64Array.from(padded(A_CAT, 0).map(BigInt)), [1, 77]) }, ['hidden_states.1', 'text_embeds']);
  const context = new Float32Array(2 * 77 * 40);
  for (let token = 0; token < 77; token++) {
    context.set(clipL!.subarray(token * 16, (token + 1) * 16), (77 + token) * 40);
    context.set(bigG!.subarray(token * 24, (token + 1) * 24), (77 + token) * 40 + 16);
  }
  const pooledBatch = new Float32Array(2 * 12);
  pooledBatch.set(pooled!, 12);
  const timeIds = Float32Array.from([72, 104, 0, 0, 72, 104, 72, 104, 0, 0, 72, 104]);
  t.same(conditioning.context.dims, [2, 77, 40]);
  t.ok(maxDifference(conditioning.context.data, context) < 1e-6, 'context: zeros, then CLIP-L ‖ bigG hidden_states.1');
  t.same(conditioning.extra['text_embeds']?.dims, [2, 12]);
  t.ok(maxDifference(conditioning.extra['text_embeds']!.data, pooledBatch) < 1e-6, 'pooled: zeros, then bigG text_embeds');
  t.same([...conditioning.extra['time_ids']!.data], [...timeIds], 'time_ids: (height, width, 0, 0, height, width) for both halves');

  // One denoiser step against the raw UNet fed those tensors.
  const [cells, sigma, cfg, timestep] = [[2, 3] as const, 2.5, 5, 500];
  const x = Float32Array.from({ length: 4 * 6 }, (_, i) => Math.cos(i) * 3);
  const unetOut = async (ids: Float32Array): Promise<Float32Array> => {
    const scaled = x.map((v) => v / Math.sqrt(sigma ** 2 + 1));
    const sample = new Float32Array(2 * x.length);
    sample.set(scaled);
    sample.set(scaled, x.length);
    const [out] = await rawRun(directory, 'unet', {
      sample: new ort.Tensor('float32', sample, [2, 4, ...cells]),
      timestep: new ort.Tensor('float32', Float32Array.from([timestep, timestep]), [2]),
      encoder_hidden_states: new ort.Tensor('float32', context, [2, 77, 40]),
      text_embeds: new ort.Tensor('float32', pooledBatch, [2, 12]),
      time_ids: new ort.Tensor('float32', ids, [2, 6]),
    }, ['out_sample']);
    return out!;
  };
  const out = await unetOut(timeIds);
  const expected = Array.from(x, (xi, i) => xi - sigma * (out[i]! + cfg * (out[x.length + i]! - out[i]!)));
  const denoised = await guidedDenoiser(model, conditioning, cfg, cells, () => timestep)(x, sigma);
  t.ok(maxDifference(denoised, expected) < 1e-5, 'the denoiser equals the raw UNet on those tensors');
  const swapped = await unetOut(Float32Array.from([104, 72, 0, 0, 104, 72, 104, 72, 0, 0, 104, 72]));
  t.ok(maxDifference(swapped, out) > 1e-3, 'the test UNet reads time_ids: width and height swapped change its output');
});

t.test('SDXL with a negative prompt encodes it for the unconditional half', async (t) => {
  const directory = join(root, 'sdxl');
  const model = await loadModel(directory, 'sdxl', pool);
  const conditioning = await encodePrompts(model, { prompt: 'a cat', negativePrompt: 'blurry', clipSkip: 1, width: 64, height: 64 });
  const [clipL] = await rawRun(directory, 'text_encoder', { input_ids: new ort.Tensor('int32', Int32Array.from(padded(BLURRY, END)), [1, 77]) }, ['hidden_states.1']);
  const [, pooled] = await rawRun(directory, 'text_encoder_2', { input_ids: new ort.Tensor('int64', BigInt64Array.from(padded(BLURRY, 0).map(BigInt)), [1, 77]) }, ['hidden_states.1', 'text_embeds']);
  const firstToken = conditioning.context.data.subarray(0, 16);
  t.ok(maxDifference(firstToken, clipL!.subarray(0, 16)) < 1e-6, 'the first token of the negative row is CLIP-L\'s');
  t.ok(maxDifference(conditioning.extra['text_embeds']!.data.subarray(0, 12), pooled!) < 1e-6);
});

t.test('SD 1.x clip skip n is the text encoder\'s clip_skip_n output; past the model\'s range, or on SD 2.x, it is refused', async (t) => {
  const directory = join(root, 'skips');
  const model = await loadModel(directory, 'skips', pool);
  const conditioning = await encodePrompts(model, { prompt: 'a cat', negativePrompt: 'blurry', clipSkip: 2, width: 64, height: 64 });
  const ids = new ort.Tensor('int32', Int32Array.from([...padded(BLURRY, END), ...padded(A_CAT, END)]), [2, 77]);
  const [skip2, last] = await rawRun(directory, 'text_encoder', { input_ids: ids }, ['clip_skip_2', 'last_hidden_state']);
  t.ok(maxDifference(conditioning.context.data, skip2!) < 1e-6);
  t.ok(maxDifference(skip2!, last!) > 1e-3, 'clip_skip_2 is another layer than last_hidden_state');
  await t.rejects(encodePrompts(model, { prompt: '', negativePrompt: '', clipSkip: 4, width: 64, height: 64 }), { status: 422, message: /clip_skip 4: model 'skips' offers clip skip 1 to 3/ });
  const sd2 = await loadModel(join(root, 'sd2'), 'sd2', pool);
  await t.rejects(encodePrompts(sd2, { prompt: '', negativePrompt: '', clipSkip: 2, width: 64, height: 64 }), { status: 422, message: /model 'sd2' is SD 2\.x, which takes no clip skip/ });
});

t.test('a decode that gives inf/NaN fails, naming float16 overflow when the decoder is float16', async (t) => {
  const half = await loadModel(join(root, 'sdxlHalf'), 'sdxlHalf', pool);
  t.equal(half.vaeDecoderPrecision, 'float16');
  const huge = { channels: 4, height: 4, width: 4, data: new Float32Array(64).fill(1e6) };
  await t.rejects(vaeDecode(half, huge, NO_TILES), { message: /model 'sdxlHalf': the VAE decode gave non-finite values \(inf\/NaN\): float16 overflow in the SDXL VAE decoder \(it overflows in fp16\); use an fp32 VAE export or madebyollin's sdxl-vae-fp16-fix/ });
  const full = await loadModel(join(root, 'sdxl'), 'sdxl', pool);
  await t.rejects(vaeDecode(full, { ...huge, data: new Float32Array(64).fill(Number.NaN) }, NO_TILES), { message: /non-finite values \(inf\/NaN\) although its vae_decoder takes float32/ });
});
