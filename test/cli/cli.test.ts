import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { SessionPool } from '../../src/engine/session-pool.js';
import { decodeLatent, encodeLatent } from '../../src/formats/latent-file.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { latent } from '../../src/latent/tensor.js';
import { loadModel } from '../../src/models/loader.js';
import { runCliProcess, runCommand } from '../helpers/cli.js';
import { FLOAT32_TABLE_TOLERANCE, karrasByFormula, maxRelativeDifference, sd1SigmaRange } from '../helpers/schedules.js';
import { temporaryFolder } from '../helpers/temporary.js';

// Commands run in this process through src/cli/run.ts (their I/O is a parameter); the two tests at the end
// run the real entry point in a child process for what only a process has: argv, exit code, the streams.

const dir = await temporaryFolder(t, 'cli');
t.teardown(() => rm(dir, { recursive: true, force: true }));
const input = latent([1, 4, 3, 5], Float32Array.from({ length: 60 }, (_, i) => i));

/** A failure is one line on stderr, exit code 2, no stack trace. */
function assertUserError(t: Test, result: { code: number | null; stderr: string }, message: RegExp): void {
  t.equal(result.code, 2, 'exit code 2');
  const lines = result.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${result.stderr.trim()}`);
  t.match(lines[0], message);
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

t.test('methods and schedulers list every registry entry', async (t) => {
  const methods = await runCommand(['methods']);
  t.equal(methods.code, 0);
  for (const name of ['nearest-exact', 'bicubic-antialiased', 'bislerp', 'trilinear']) t.match(methods.stdout, new RegExp(`^${name} `, 'm'));
  const json = JSON.parse((await runCommand(['methods', '--json'])).stdout) as { name: string; alias_of?: string }[];
  t.equal(json.length, 10);
  t.equal(json.find((m) => m.name === 'linear')!.alias_of, 'bilinear');
  const schedulers = await runCommand(['schedulers']);
  for (const name of ['simple', 'karras', 'polyexponential', 'automatic', 'kl_optimal', 'align_your_steps']) t.match(schedulers.stdout, new RegExp(`^${name} `, 'm'));
  t.match((await runCommand(['samplers'])).stdout, /^dpmpp_2m\s+DPM\+\+ 2M; automatic = karras/m);
});

t.test('sigmas prints the sampled schedule as JSON', async (t) => {
  interface Sigmas { sigmas: number[]; full_sigmas: number[]; steps_run: number; schedule_steps: number; fix_steps: boolean; scheduler: string; sampler: string }
  const sigmas = async (...args: string[]): Promise<Sigmas> => JSON.parse((await runCommand(['sigmas', ...args])).stdout) as Sigmas;
  const full = await runCommand(['sigmas', '--scheduler', 'karras', '--steps', '10']);
  t.equal(full.code, 0);
  const body = JSON.parse(full.stdout) as Sigmas;
  const { min, max } = sd1SigmaRange();
  const difference = maxRelativeDifference(body.sigmas, karrasByFormula(10, min, max));
  t.ok(difference < FLOAT32_TABLE_TOLERANCE, `karras from its formula: max relative difference ${difference.toExponential(1)}`);
  t.equal(body.steps_run, 10);

  // A1111 setup_img2img_steps (modules/sd_samplers_common.py): fix steps runs ⌊30 / 0.4⌋ = 75 schedule steps
  // and samples the last 30 of them; without it, the 30-step schedule's last ⌊0.4 · 30⌋ + 1 = 13.
  const fixed = await sigmas('--scheduler', 'normal', '--steps', '30', '--denoise', '0.4');
  t.equal(fixed.sigmas.length, 31, 'fix steps on by default: 30 denoising steps');
  t.equal(fixed.schedule_steps, 75);
  t.same(fixed.full_sigmas, (await sigmas('--scheduler', 'normal', '--steps', '75')).sigmas, 'the full schedule is the 75-step one');
  t.same(fixed.sigmas, fixed.full_sigmas.slice(-31), 'the sampled part is its tail');
  const unfixed = await sigmas('--scheduler', 'normal', '--steps', '30', '--denoise', '0.4', '--no-fix-steps');
  t.equal(unfixed.sigmas.length, 14, 'without fix steps: 13 steps');
  t.equal(unfixed.fix_steps, false);
  t.same(unfixed.sigmas, (await sigmas('--scheduler', 'normal', '--steps', '30')).sigmas.slice(-14));
  const automatic = await sigmas('--steps', '10', '--sampler', 'DPM++ 2M');
  t.same([automatic.scheduler, automatic.sampler], ['karras', 'dpmpp_2m']);
});

t.test('resize-latent: .npy in, .latent out, values as worked by hand', async (t) => {
  const source = join(dir, 'in.npy');
  await writeFile(source, encodeNpy(input));
  const target = join(dir, 'out.latent');
  const result = await runCommand(['resize-latent', source, target, '--method', 'nearest-exact', '--width', '10', '--height', '6']);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /resized \[1, 4, 3, 5\] to \[1, 4, 6, 10\] with nearest-exact on cpu/);
  const out = decodeLatent(await readFile(target), 'latent').latent;
  t.same(out.shape, [1, 4, 6, 10]);
  for (let c = 0; c < 4; c++) for (let y = 0; y < 6; y++) for (let x = 0; x < 10; x++) {
    if (out.data[(c * 6 + y) * 10 + x] !== input.data[(c * 3 + (y >> 1)) * 5 + (x >> 1)]) t.fail(`cell ${c},${y},${x}`);
  }
});

t.test('resize-latent --scale rounds like Python round (halves to even) and keeps fp16 files fp16', async (t) => {
  const source = join(dir, 'odd.safetensors');
  await writeFile(source, encodeLatent({ latent: input, element: 'float16' }, 'safetensors'));
  const target = join(dir, 'odd-out.safetensors');
  const result = await runCommand(['resize-latent', source, target, '--method', 'bislerp', '--scale', '1.5']);
  t.equal(result.code, 0, result.stderr);
  const out = decodeLatent(await readFile(target), 'safetensors');
  t.same(out.latent.shape, [1, 4, 4, 8], '3·1.5 = 4.5 rounds to 4, 5·1.5 = 7.5 rounds to 8');
  t.equal(out.element, 'float16');
});

t.test('bad input: one clear line, exit 2', async (t) => {
  const source = join(dir, 'bad-input.npy');
  await writeFile(source, encodeNpy(input));
  const resize = async (...args: string[]): Promise<{ code: number | null; stderr: string }> => runCommand(['resize-latent', ...args]);
  const out = join(dir, 'x.npy');
  assertUserError(t, await resize(source, out, '--method', 'lanczos', '--scale', '2'), /unknown method 'lanczos' \(allowed: nearest, nearest-exact, bilinear/);
  assertUserError(t, await resize(source, out, '--scale', '2'), /--method is required \(allowed: nearest/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--width', '0', '--height', '4'), /target width must be an integer from 1 to 8192 latent cells; got 0/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--width', '99999', '--height', '4'), /target width must be an integer from 1 to 8192/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--scale=-2'), /scale must be positive; got -2/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--scale', '-2'), /Option '--scale' argument is ambiguous\. Did you forget/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--scale', 'big'), /--scale must be a number; got 'big'/);
  assertUserError(t, await resize(source, out, '--method', 'area', '--width', '8'), /give width and height \(latent cells\), or scale/);
  assertUserError(t, await resize(source, join(dir, 'x.png'), '--method', 'area', '--scale', '2'), /unsupported latent file extension '\.png'/);
  assertUserError(t, await resize(join(dir, 'nope.npy'), out, '--method', 'area', '--scale', '2'), /nope\.npy: cannot read \(ENOENT\)/);

  const float64 = join(dir, 'f8.npy');
  const f8 = encodeNpy(input);
  f8.set(new TextEncoder().encode("'<f8'"), 10 + "{'descr': ".length);
  await writeFile(float64, f8);
  assertUserError(t, await resize(float64, out, '--method', 'area', '--scale', '2'), /f8\.npy: dtype '<f8' is not supported/);

  const threeD = join(dir, '3d.safetensors');
  const bytes = encodeLatent({ latent: input, element: 'float32' }, 'safetensors');
  await writeFile(threeD, new TextDecoder('latin1').decode(bytes).replace('[1,4,3,5]', '[4,3,5]  '), 'latin1');
  assertUserError(t, await resize(threeD, out, '--method', 'area', '--scale', '2'), /latent must be 4-D \(batch, channels, height, width\); got 3-D/);

  assertUserError(t, await runCommand(['sigmas', '--scheduler', 'cosine', '--steps', '10']), /unknown scheduler 'cosine' \(allowed: simple, normal/);
  assertUserError(t, await runCommand(['sigmas', '--steps', '0']), /steps must be an integer from 1 to 1000; got 0/);
  assertUserError(t, await runCommand(['sigmas', '--steps', '10', '--denoise', '1.5']), /denoise must be in \(0, 1\]; got 1\.5/);
  assertUserError(t, await runCommand(['sigmas', '--steps', '10', '--colour']), /Unknown option '--colour' \(allowed: --scheduler, --steps, --denoise, --no-fix-steps, --sampler, --table\)/);
});

t.test('help lists every command with an example', async (t) => {
  const help = await runCommand(['--help']);
  t.equal(help.code, 0);
  for (const command of ['resize-latent', 'sigmas', 'methods', 'schedulers', 'samplers']) t.match(help.stdout, new RegExp(`e\\.g\\. latent-upscale ${command}`));
  const none = await runCommand([]);
  t.equal(none.code, 2, 'no command is a usage error');
  t.match(none.stderr, /^usage: latent-upscale COMMAND/, 'and prints the usage on stderr');
});

t.test('noise writes torch.randn for the seed; tokenize prints 77 ids; make-test-model writes a loadable model', async (t) => {
  const noisePath = join(dir, 'noise.npy');
  const noise = await runCommand(['noise', '--seed', '0', '--shape', '1,4,1,1', noisePath]);
  t.equal(noise.code, 0, noise.stderr);
  const values = Array.from(decodeLatent(await readFile(noisePath), 'npy').latent.data).map((v) => Number(v.toFixed(4)));
  // PyTorch's own output, printed wherever torch.randn is introduced: torch.manual_seed(0); torch.randn(4).
  t.same(values, [1.541, -0.2934, -2.1788, 0.5684], 'torch.manual_seed(0); torch.randn(1, 4, 1, 1)');
  assertUserError(t, await runCommand(['noise', '--seed=-1', '--shape', '1,4,8,8', noisePath]), /--seed must be a non-negative integer/);
  assertUserError(t, await runCommand(['noise', '--seed', '1', '--shape', '4,8,8', noisePath]), /latent must be 4-D/);
  assertUserError(t, await runCommand(['noise', '--seed', '1', '--shape', '1,4,16384,16384', noisePath]), /--shape \[1, 4, 16384, 16384\] has 1073741824 values; the limit is 268435456/);

  const modelDir = join(dir, 'model');
  const made = await runCommand(['make-test-model', modelDir, '--fp16', '--vae-parameters', '--timestep', 'int64', '--external-data']);
  t.equal(made.code, 0, made.stderr);
  const tokens = await runCommand(['tokenize', '--model', modelDir, 'ab']);
  t.equal(tokens.code, 0, tokens.stderr);
  const ids = JSON.parse(tokens.stdout) as number[];
  t.same(ids.slice(0, 4), [512, 64, 256 + 65, 513], 'byte vocabulary: start, a, b</w>, end');
  t.equal(ids.length, 77);
  // One file missing at a time, so the message has exactly one file it can name.
  for (const missing of ['vocab.json', 'merges.txt']) {
    const partial = join(dir, `without-${missing}`);
    await cp(join(modelDir, 'tokenizer'), join(partial, 'tokenizer'), { recursive: true });
    await rm(join(partial, 'tokenizer', missing));
    assertUserError(t, await runCommand(['tokenize', '--model', partial, 'x']), new RegExp(`tokenizer: cannot read .*without-${missing}/tokenizer/${missing.replace('.', '\\.')} \\(expected vocab\\.json and merges\\.txt\\)`));
  }
  assertUserError(t, await runCommand(['make-test-model', modelDir, '--timestep', 'half']), /--timestep must be float or int64/);
});

t.test('make-test-model writes SD 2.x and SDXL models; tokenize pads with the tokenizer\'s pad token', async (t) => {
  const pool = new SessionPool();
  t.teardown(() => pool.release());
  const sd2 = join(dir, 'sd2');
  const made = await runCommand(['make-test-model', sd2, '--family', 'sd2', '--prediction', 'v']);
  t.equal(made.code, 0, made.stderr);
  const model = await loadModel(sd2, 'sd2', pool);
  t.same([model.family.name, model.prediction], ['sd2', 'v']);
  const ids = JSON.parse((await runCommand(['tokenize', '--model', sd2, 'ab'])).stdout) as number[];
  t.same([ids.slice(0, 4), ids[4], ids[76], ids.length], [[512, 64, 256 + 65, 513], 0, 0, 77], 'OpenCLIP\'s "!" (0) pads after the end token');

  const sdxl = join(dir, 'sdxl');
  t.equal((await runCommand(['make-test-model', sdxl, '--family', 'sdxl', '--fp16'])).code, 0);
  t.same((await loadModel(sdxl, 'sdxl', pool)).textEncoders.map((e) => e.component), ['text_encoder', 'text_encoder_2']);
  assertUserError(t, await runCommand(['make-test-model', sdxl, '--family', 'sd3']), /unknown model family 'sd3' \(allowed: sd1, sd2, sdxl\)/);
  assertUserError(t, await runCommand(['make-test-model', sdxl, '--prediction', 'x0']), /--prediction must be eps or v/);
});

t.test('the real entry point: a bad command exits 2 with one line on stderr and nothing on stdout', async (t) => {
  const result = await runCliProcess(['upscale-everything']);
  assertUserError(t, result, /^latent-upscale: unknown command 'upscale-everything' \(allowed: resize-latent, sigmas/);
  t.equal(result.stdout, '');
});

t.test('the real entry point: a good command exits 0 with its JSON on stdout and nothing on stderr', async (t) => {
  const result = await runCliProcess(['methods', '--json']);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stderr, '');
  t.same(JSON.parse(result.stdout), JSON.parse((await runCommand(['methods', '--json'])).stdout), 'the same listing as in-process');
});
