import { join } from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../../src/convert/convert.js';
import { TEST_ARCHITECTURES, writeTestCheckpoint } from '../../src/convert/test-checkpoint.js';
import { SessionPool } from '../../src/engine/session-pool.js';
import { FAMILIES, type FamilyName, type Prediction } from '../../src/models/families.js';
import { loadModel } from '../../src/models/loader.js';
import { runImg2img, type Img2imgRequest } from '../../src/pipeline/img2img.js';
import { img2imgSchedule } from '../../src/schedules/img2img-steps.js';
import { sigmaTableNamed } from '../../src/schedules/sigma-table.js';
import { CLIP_BPE_PATH as BPE } from '../../src/text/clip-vocabulary.js';
import { upstreamConfig } from '../helpers/checkpoints.js';
import { findPython, runPythonJson } from '../helpers/python.js';
import { skipFileWithout } from '../helpers/references.js';
import { temporaryFolder } from '../helpers/temporary.js';

// The whole native img2img on converted checkpoints against the reference pipeline in
// test/reference/ldm_reference.py (its own UNet, VAE, text encoders, k-diffusion's Euler with CFG, the ε or
// v wrapper, SDXL's size conditioning, torch.manual_seed noise): every family, ε and v, within one 8-bit level.

const python = findPython(['torch', 'numpy']);
if (skipFileWithout(t, 'skip' in python ? python.skip : undefined)) process.exit(0);
const PYTHON = (python as { python: string }).python;
const dir = await temporaryFolder(t, 'img2img');
const pool = new SessionPool();
t.teardown(() => pool.release());

const [inputWidth, inputHeight] = [64, 48];
const pixels = Uint8Array.from({ length: inputWidth * inputHeight * 3 }, (_, i) => {
  const [x, y, c] = [Math.floor(i / 3) % inputWidth, Math.floor(i / 3 / inputWidth), i % 3];
  return Math.round(127 + 100 * Math.sin(x / (5 + c) + y / 7) * Math.cos(y / (4 + c)));
});

const cases: { family: FamilyName; prediction: Prediction; negative: string; method: string }[] = [
  { family: 'sd1', prediction: 'eps', negative: 'blurry', method: 'nearest-exact' },
  { family: 'sd2', prediction: 'eps', negative: 'blurry', method: 'bilinear' },
  { family: 'sd2', prediction: 'v', negative: 'blurry', method: 'nearest-exact' },
  { family: 'sdxl', prediction: 'eps', negative: '', method: 'nearest-exact' },
  { family: 'sdxl', prediction: 'eps', negative: 'blurry', method: 'bilinear' },
];

for (const { family, prediction, negative, method } of cases) {
  t.test(`${family} ${prediction}, negative ${JSON.stringify(negative)}, ${method}: the native img2img equals the PyTorch pipeline within one 8-bit level`, async (t) => {
    const file = join(dir, `${family}.safetensors`);
    writeTestCheckpoint(file, { family, size: 'tiny', precision: 'fp32', seed: 3 });
    const folder = join(dir, `${family}-${prediction}-${method}-${negative.length}`);
    await convertCheckpoint(file, folder, { precision: 'fp32', prediction });
    const model = await loadModel(folder, family, pool);
    t.equal(model.family.name, family);
    t.equal(model.prediction, prediction);

    const request: Img2imgRequest = {
      image: { width: inputWidth, height: inputHeight, pixels }, width: 128, height: 128, method, scheduler: 'karras', steps: 4, denoise: 0.6, fixSteps: true,
      sampler: 'euler', cfgScale: 6.5, seed: 1234, prompt: 'a watercolour of a lighthouse at dusk', negativePrompt: negative, clipSkip: 1,
    };
    const ours = await runImg2img(model, pool, request, { tile: 1024, overlap: 16 });
    const { sigmas } = img2imgSchedule({ ...request, table: sigmaTableNamed(FAMILIES[family].sigmaTable) });
    const reference = runPythonJson<{ results: { image: string }[] }>(PYTHON, 'ldm_reference.py', {
      checkpoint: file, family, prediction, bpe: BPE, config: upstreamConfig(TEST_ARCHITECTURES[family].tiny),
      ops: [{
        op: 'img2img', image: Buffer.from(pixels).toString('base64'), image_width: inputWidth, image_height: inputHeight, width: 128, height: 128,
        prompt: request.prompt, negative_prompt: negative, seed: request.seed, sigmas, cfg_scale: request.cfgScale, method, clip_skip: 1,
      }],
    });
    const expected = Buffer.from(reference.results[0]!.image, 'base64');
    t.equal(ours.pixels.length, expected.length, '128×128 RGB');
    let worst = 0;
    let differing = 0;
    for (let i = 0; i < expected.length; i++) {
      const difference = Math.abs(ours.pixels[i]! - expected[i]!);
      worst = Math.max(worst, difference);
      if (difference > 0) differing++;
    }
    t.ok(worst <= 1, `max difference ${worst} level(s); ${differing} of ${expected.length} values differ at all`);
    const spread = new Set(expected).size;
    t.ok(spread > 50, `the image is not flat (${spread} distinct values), so agreement means something`);
  });
}
