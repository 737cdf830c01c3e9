import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../../src/convert/convert.js';
import { FAMILY_NAMES } from '../../src/models/families.js';
import { TEST_ARCHITECTURES, writeTestCheckpoint } from '../../src/convert/test-checkpoint.js';
import { ClipTokenizer } from '../../src/text/clip-tokenizer.js';
import { CLIP_BPE_PATH as BPE, readClipVocabulary } from '../../src/text/clip-vocabulary.js';
import { upstreamConfig } from '../helpers/checkpoints.js';
import { findPython, fromBase64, runPythonJson, toBase64 } from '../helpers/python.js';
import { maxAbsDifference, randomValues } from '../helpers/random.js';
import { skipFileWithout } from '../helpers/references.js';
import { temporaryFolder } from '../helpers/temporary.js';

// Each converted graph against test/reference/ldm_reference.py, a PyTorch implementation written from
// the original ldm/sgm/open_clip/transformers code that loads the same checkpoint with strict key
// matching. The tolerance is the issue's: max |ONNX − torch| ≤ 1e-4 × max |torch|, in fp32.

const python = findPython(['torch', 'numpy']);
if (skipFileWithout(t, 'skip' in python ? python.skip : undefined)) process.exit(0);
const PYTHON = (python as { python: string }).python;
const tokenizer = new ClipTokenizer(await readClipVocabulary());
const dir = await temporaryFolder(t, 'reference');
const TOLERANCE = 1e-4;

function compare(t: Test, ours: Float32Array, reference: Float32Array, what: string): void {
  t.equal(ours.length, reference.length, `${what}: same size`);
  const worst = maxAbsDifference(ours, reference);
  const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  t.ok(scale > 0 && worst <= TOLERANCE * scale, `${what}: max |ONNX − torch| = ${worst.toExponential(2)}, ${(worst / scale).toExponential(2)} of max |torch| ${scale.toFixed(3)}`);
}

type Tensors = Record<string, ort.Tensor>;
const run = async (folder: string, feeds: Tensors): Promise<ort.InferenceSession.OnnxValueMapType> => {
  const session = await ort.InferenceSession.create(folder);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
};
const floats = (value: ort.Tensor | undefined): Float32Array => value!.data as Float32Array;

/** Token ids as each encoder's own tokenizer pads them: CLIP with the end token, OpenCLIP with 0. */
function ids(prompts: readonly string[], padWithZero: boolean): ort.Tensor {
  const rows = prompts.map((p) => {
    const row = tokenizer.encode(p);
    const end = row.indexOf(tokenizer.endId);
    return padWithZero ? row.map((id, i) => (i > end ? 0 : id)) : row;
  });
  return new ort.Tensor('int32', Int32Array.from(rows.flat()), [prompts.length, 77]);
}

for (const family of FAMILY_NAMES) {
  for (const precision of ['fp32', 'fp16'] as const) {
    t.test(`${family}, ${precision} checkpoint: every converted graph equals the PyTorch reference`, async (t) => {
      const arch = TEST_ARCHITECTURES[family].tiny;
      const file = join(dir, `${family}-${precision}.safetensors`);
      writeTestCheckpoint(file, { family, size: 'tiny', precision, seed: 11 });
      const out = join(dir, `${family}-${precision}`);
      await convertCheckpoint(file, out, { precision });
      const model = (component: string): string => join(out, component, 'model.onnx');
      const prompts = ['a photograph of an astronaut riding a horse', 'blurry, lowres'];

      const contextWidth = arch.unet.contextWidth;
      const [height, width] = [16, 24];
      const x = randomValues(2 * 4 * height * width, 1);
      const context = randomValues(2 * 77 * contextWidth, 2);
      const pooledWidth = (arch.unet.admWidth ?? 1536) - 1536;
      const pooled = randomValues(2 * pooledWidth, 3);
      const sizes = [[512, 768], [0, 0], [512, 768]];
      const image = randomValues(3 * 64 * 48, 4);
      const latent = randomValues(4 * 8 * 6, 5, 2);

      const ops: unknown[] = [
        { op: 'text', prompts, clip_skip: 1, is_negative: [false, false] },
        ...(family === 'sd1' ? [{ op: 'text', prompts, clip_skip: 2, is_negative: [false, false] }] : []),
        ...(family === 'sdxl' ? [{ op: 'sdxl_vector', pooled: toBase64(pooled), original_size: sizes[0], crop: sizes[1], target_size: sizes[2] }] : []),
        { op: 'vae_encode', image: toBase64(image), shape: [1, 3, 64, 48] },
        { op: 'vae_decode', latent: toBase64(latent), shape: [1, 4, 8, 6] },
      ];
      const request = (operations: unknown[]) => ({ checkpoint: file, family, prediction: 'eps', bpe: BPE, config: upstreamConfig(arch), ops: operations });
      const first = runPythonJson<{ results: Record<string, string>[]; unused_keys: string[] }>(PYTHON, 'ldm_reference.py', request(ops));
      const results = [...first.results];
      t.ok(first.unused_keys.includes('model_ema.decay'), 'the reference loaded every network strictly and left only the extras');

      // Text encoders.
      const text = results.shift()!;
      if (family === 'sdxl') {
        const clipL = await run(model('text_encoder'), { input_ids: ids(prompts, false) });
        const bigG = await run(model('text_encoder_2'), { input_ids: ids(prompts, true) });
        const [l, g] = [clipL[`hidden_states.${arch.text[0]!.layers - 1}`]!, bigG[`hidden_states.${arch.text[1]!.layers - 1}`]!];
        const joined = new Float32Array(2 * 77 * contextWidth);
        const [lw, gw] = [arch.text[0]!.width, arch.text[1]!.width];
        for (let row = 0; row < 2 * 77; row++) {
          joined.set(floats(l).subarray(row * lw, (row + 1) * lw), row * contextWidth);
          joined.set(floats(g).subarray(row * gw, (row + 1) * gw), row * contextWidth + lw);
        }
        compare(t, joined, fromBase64(text['context']!), 'SDXL context (CLIP-L penultimate ‖ bigG penultimate)');
        compare(t, floats(bigG['text_embeds']), fromBase64(text['pooled']!), 'SDXL pooled bigG embedding');
      } else {
        const encoded = await run(model('text_encoder'), { input_ids: ids(prompts, family === 'sd2') });
        compare(t, floats(encoded['last_hidden_state']), fromBase64(text['context']!), `${family} context`);
        if (family === 'sd1') compare(t, floats(encoded['clip_skip_2']), fromBase64(results.shift()!['context']!), 'sd1 context at clip skip 2');
      }

      // UNet, with SDXL's size conditioning going in as time_ids on our side and as y on the reference's.
      const timesteps = [811.5, 23.25];
      const feeds: Tensors = {
        sample: new ort.Tensor('float32', x, [2, 4, height, width]),
        timestep: new ort.Tensor('float32', Float32Array.from(timesteps), [2]),
        encoder_hidden_states: new ort.Tensor('float32', context, [2, 77, contextWidth]),
      };
      let y: string | null = null;
      if (family === 'sdxl') {
        feeds['text_embeds'] = new ort.Tensor('float32', pooled, [2, pooledWidth]);
        feeds['time_ids'] = new ort.Tensor('float32', Float32Array.from([...sizes.flat(), ...sizes.flat()]), [2, 6]);
        y = results.shift()!['y']!;
      }
      const unetReference = runPythonJson<{ results: Record<string, string>[] }>(PYTHON, 'ldm_reference.py', request([{
        op: 'unet', x: toBase64(x), shape: [2, 4, height, width], timesteps, context: toBase64(context), context_shape: [2, 77, contextWidth],
        y, y_shape: y === null ? null : [2, arch.unet.admWidth],
      }]));
      compare(t, floats((await run(model('unet'), feeds))['out_sample']), fromBase64(unetReference.results[0]!['output']!), `${family} UNet`);

      // VAE.
      compare(t, floats((await run(model('vae_encoder'), { sample: new ort.Tensor('float32', image, [1, 3, 64, 48]) }))['latent_parameters']), fromBase64(results.shift()!['moments']!), `${family} VAE encoder`);
      compare(t, floats((await run(model('vae_decoder'), { latent_sample: new ort.Tensor('float32', latent, [1, 4, 8, 6]) }))['sample']), fromBase64(results.shift()!['image']!), `${family} VAE decoder`);
    });
  }
}
