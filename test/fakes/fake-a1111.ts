import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { concat, encodeRgbPng, pngChunk, readPngChunks, setPngText } from '../../src/images/png.js';
import { photoLikePng } from './photo.js';
import { UPSCALE_METHOD_NAMES } from '../../src/interpolation/methods.js';
import { SCHEDULERS } from '../../src/schedules/schedulers.js';

const SCHEDULER_NAMES = SCHEDULERS.map((s) => s.name);

// A stand-in for AUTOMATIC1111 v1.10's /sdapi/v1 API, following its modules/api/api.py and models.py: field
// defaults, 404 without init_images, 422 for unknown scripts, 401 under --api-auth, one generation at a
// time (queue_lock), /progress while sampling, /interrupt ending sampling early, PNG of the requested size.
// `behaviour` injects faults at runtime; with `control` the same port serves /__fake/behaviour and
// /__fake/state, so a fake in its own process (fake-a1111-main.ts) can be steered by tests.

/** Faults that can be switched at any time; all but `stepDelayMs` concern POST /sdapi/v1/img2img only. */
export interface FakeBehaviour {
  /** Every img2img answers this status and body; probes (scripts, schedulers, progress) stay healthy. */
  failAlways: { status: number; body: unknown } | undefined;
  /** Sampling stops advancing and ignores /interrupt, holding the queue and the request open (a hung A1111); lifting it resumes. */
  hang: boolean;
  /**
   * img2img answers 200 with a non-JSON body, or with JSON whose image is broken: not an image at all, a PNG
   * cut in half, a PNG whose IDAT bytes are flipped under a valid CRC (only decoding tells), a JPEG or a
   * WebP (an instance whose samples_format is jpg or webp), a JPEG cut short, a whole PNG of half the size
   * asked for, or a PNG with one IDAT byte changed and its CRC left as it was (what a flaky link does).
   */
  garbage: 'not-json' | 'bad-image' | 'truncated-png' | 'corrupt-png' | 'jpeg' | 'webp' | 'truncated-jpeg' | 'wrong-size' | 'flipped-byte' | undefined;
  /**
   * The companion's script raises (a bad argument, a bug): A1111 v1.10 logs it and runs the job stock
   * (modules/scripts.py ScriptRunner.process catches script errors), so no companion field is in the infotext.
   */
  companionFails: boolean;
  /** Time per sampling step. */
  stepDelayMs: number;
  /** The process entry exits when sampling reaches this step (a crash mid-job); in-process it does nothing, see `onStep`. */
  exitAfterSteps: number | undefined;
}

/** What /__fake/state reports. */
export interface FakeState {
  readonly received: number;
  readonly seeds: number[];
  readonly interrupts: number;
  readonly maxConcurrent: number;
  /** The img2img bodies in order, each init image replaced by its length. */
  readonly payloads: Record<string, unknown>[];
}

const BEHAVIOUR_DEFAULTS: FakeBehaviour = { failAlways: undefined, hang: false, garbage: undefined, companionFails: false, stepDelayMs: 2, exitAfterSteps: undefined };

/** Options also set the initial behaviour. */
export interface FakeA1111Options extends Readonly<Partial<FakeBehaviour>> {
  /** Advertise the companion always-on script (companion mode) or not (native mode). */
  readonly companion?: boolean;
  /** A1111 ≥ 1.9 has /sdapi/v1/schedulers; older versions answer 404. */
  readonly schedulers?: boolean;
  /** --api-auth "user:password". */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Serve the /__fake control routes (the process entry turns this on). */
  readonly control?: boolean;
  /** The loaded checkpoint, as Processed.js() reports it in `info` (sd_model_name, sd_model_hash). */
  readonly model?: { readonly name: string; readonly hash: string };
  /**
   * Its settings (opts.data) as /sdapi/v1/options lists them; A1111 v1.10's defaults for the keys we
   * override unless given. Leave keys out to play an API-only install whose config never saved them.
   */
  readonly settings?: Record<string, unknown>;
  /**
   * Answer photo-like images (test/fakes/photo.ts), each encoded once per size and seed and then sent from
   * a cache, so that a benchmark measures the bytes a real answer has and not the fake's encoder.
   */
  readonly photo?: boolean;
}

/** What A1111 reports with the SD 1.5 checkpoint it downloads on first start (v1-5-pruned-emaonly.safetensors). */
export const FAKE_MODEL = { name: 'v1-5-pruned-emaonly', hash: '6ce0161689' };

const V110_SCHEDULERS = [
  ['automatic', 'Automatic'], ['uniform', 'Uniform'], ['karras', 'Karras'], ['exponential', 'Exponential'],
  ['polyexponential', 'Polyexponential'], ['sgm_uniform', 'SGM Uniform'], ['kl_optimal', 'KL Optimal'],
  ['align_your_steps', 'Align Your Steps'], ['simple', 'Simple'], ['normal', 'Normal'], ['ddim', 'DDIM'], ['beta', 'Beta'],
].map(([name, label]) => ({ name, label, aliases: name === 'sgm_uniform' ? ['SGMUniform'] : null, default_rho: -1, need_inner_model: false }));

const IMG2IMG_DEFAULTS = {
  resize_mode: 0, denoising_strength: 0.75, width: 512, height: 512, steps: 50, cfg_scale: 7, seed: -1,
  prompt: '', negative_prompt: '', sampler_name: null, sampler_index: 'Euler', scheduler: null,
  script_name: null, script_args: [], alwayson_scripts: {}, override_settings: null, override_settings_restore_afterwards: true,
  send_images: true, save_images: false,
};

const PHOTO_CACHE_ENTRIES = 8;

/** A1111 v1.10's defaults (modules/shared_options.py) for the settings the service overrides. */
export const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  img2img_fix_steps: false, CLIP_stop_at_last_layers: 1, samples_format: 'png',
  live_previews_enable: true, show_progress_every_n_steps: 10, show_progress_type: 'Approx NN',
};

const NUMBER_FIELDS = ['denoising_strength', 'cfg_scale'];
const INTEGER_FIELDS = ['resize_mode', 'width', 'height', 'steps', 'seed', 'batch_size', 'n_iter'];

export class FakeA1111 {
  /** Every img2img body received, in order, for tests to assert on the exact payload. */
  readonly received: Record<string, unknown>[] = [];
  /** What /progress showed as job_count when each of them arrived (1: behind a job that was generating). */
  readonly jobCountsOnArrival: number[] = [];
  interruptCount = 0;
  /** When set, the next img2img answers with this status and body instead of generating. */
  failNext: { status: number; body: unknown } | undefined;
  /** Extra delay before answering anything (a slow A1111). */
  answerDelayMs = 0;
  readonly behaviour: FakeBehaviour;
  /** Called after each sampling step; the process entry uses it to die mid-job. */
  onStep?: (step: number) => void;
  /**
   * Sampling turns `hang` on once it reaches this step, holding the job there (running, that step shown by
   * /progress) until a test lifts `hang`: what a test wants to see mid-run is then there until it has looked.
   */
  holdAfterStep: number | undefined;
  /** Called just before a generated image is sent, i.e. at a known point before the service ends the job. */
  onAnswer?: () => void;
  /**
   * A generated image's answer stops halfway (headers and half the body sent) until a test lifts this or the
   * fake stops. Generation has ended by then, so the next job may start, as behind a slow link.
   */
  holdAnswer = false;
  /** /progress answers wait while this is set (an A1111 whose API threads are slow to answer). */
  holdProgress = false;

  private server: Server | undefined;
  private port = 0;
  private readonly photoAnswers = new Map<string, Promise<Uint8Array>>();
  /** opts.data: what /sdapi/v1/options shows, and what a job's overrides are laid over. */
  readonly settings: Record<string, unknown>;
  /** GET /sdapi/v1/options calls so far (each health probe makes one). */
  settingsReads = 0;
  /** GET /sdapi/v1/progress calls so far. */
  progressReads = 0;
  private queueLock: Promise<void> = Promise.resolve();
  /** What /sdapi/v1/progress shows. */
  progress = { job_count: 0, sampling_step: 0, sampling_steps: 0, interrupted: false, started: 0 };
  /** The live preview /progress shows (A1111's shared.state.current_image), as its base64 PNG. */
  private currentImage: string | null = null;
  private concurrent = 0;
  maxConcurrent = 0;

  constructor(private readonly options: FakeA1111Options = {}) {
    this.behaviour = { ...BEHAVIOUR_DEFAULTS, ...behaviourFields(options) };
    this.settings = { ...(options.settings ?? DEFAULT_SETTINGS) };
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    // A client that hangs up mid-request (a timeout, a cancel) just ends that exchange.
    this.server = createServer((request, response) => void this.handle(request, response).catch(() => response.destroy()));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops answering (A1111 down); `start(port)` on the same port brings it back. */
  async stop(): Promise<number> {
    const port = this.port;
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    return port;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const query = new URLSearchParams((request.url ?? '').split('?')[1] ?? '');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => void sendJson(response, status, body, headers);
    const path = (request.url ?? '').split('?')[0]!;
    const body = request.method === 'POST' ? await readJson(request) : undefined;
    // The test's own channel: no delay, no auth, no faults.
    if (this.options.control && path.startsWith('/__fake/')) return this.control(request.method, path, body, send);
    if (this.answerDelayMs > 0) await sleep(this.answerDelayMs);
    if (this.options.auth && !this.authorised(request.headers.authorization)) {
      return send(401, { detail: 'Incorrect username or password' }, { 'www-authenticate': 'Basic' });
    }
    if (request.method === 'GET' && path === '/sdapi/v1/scripts') {
      const img2img = ['x/y/z plot', 'sd upscale', ...(this.options.companion ? ['latent upscale companion'] : [])];
      return send(200, { txt2img: ['x/y/z plot'], img2img });
    }
    if (request.method === 'GET' && path === '/sdapi/v1/schedulers') {
      return this.options.schedulers === false ? send(404, { detail: 'Not Found' }) : send(200, V110_SCHEDULERS);
    }
    if (request.method === 'GET' && path === '/sdapi/v1/options') {
      this.settingsReads++;
      return send(200, this.settings);
    }
    if (request.method === 'GET' && path === '/sdapi/v1/progress') {
      this.progressReads++;
      await this.whileHeld(() => this.holdProgress);
      return send(200, this.progressBody(query.get('skip_current_image') !== 'false'));
    }
    if (request.method === 'POST' && path === '/sdapi/v1/interrupt') {
      this.interruptCount++;
      this.progress.interrupted = true;
      return send(200, {});
    }
    if (request.method === 'POST' && path === '/sdapi/v1/img2img') return this.img2img(body as Record<string, unknown>, response);
    send(404, { detail: 'Not Found' });
  }

  private control(method: string | undefined, path: string, body: unknown, send: (status: number, body: unknown) => void): void {
    if (method === 'GET' && path === '/__fake/state') return send(200, this.state());
    if (method === 'POST' && path === '/__fake/behaviour') {
      const fields = typeof body === 'object' && body !== null ? Object.keys(body) : ['(not a JSON object)'];
      const unknown = fields.filter((key) => !isBehaviourField(key));
      if (unknown.length > 0) return send(400, { detail: `not behaviour fields: ${unknown.join(', ')}` });
      Object.assign(this.behaviour, behaviourFields(body as object));
      return send(200, this.behaviour);
    }
    send(404, { detail: 'Not Found' });
  }

  private state(): FakeState {
    return {
      received: this.received.length,
      seeds: this.received.map((body) => (body['seed'] as number | undefined) ?? -1),
      interrupts: this.interruptCount,
      maxConcurrent: this.maxConcurrent,
      payloads: this.received.map((body) => {
        const images = body['init_images'];
        return { ...body, init_images: Array.isArray(images) ? images.map((image) => String(image).length) : images };
      }),
    };
  }

  private async img2img(body: Record<string, unknown> | undefined, response: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => void sendJson(response, status, body);
    if (body === undefined || typeof body !== 'object') return send(422, { detail: [{ loc: ['body'], msg: 'field required', type: 'value_error.missing' }] });
    this.received.push(body);
    this.jobCountsOnArrival.push(this.progress.job_count);
    const request = { ...IMG2IMG_DEFAULTS, ...body } as typeof IMG2IMG_DEFAULTS & Record<string, unknown>;
    for (const field of [...NUMBER_FIELDS, ...INTEGER_FIELDS]) {
      const value = request[field as keyof typeof request];
      const ok = typeof value === 'number' && (!INTEGER_FIELDS.includes(field) || Number.isInteger(value));
      if (field in body && !ok) return send(422, { detail: [{ loc: ['body', field], msg: `value is not a valid ${INTEGER_FIELDS.includes(field) ? 'integer' : 'float'}`, type: 'type_error' }] });
    }
    const images = request['init_images'];
    if (!Array.isArray(images) || images.length === 0) return send(404, { detail: 'Init image not found' });
    if (request.script_name !== null && request.script_name !== undefined) {
      return send(422, { detail: `Script '${String(request.script_name)}' not found` });
    }
    for (const script of Object.keys(request.alwayson_scripts)) {
      if (!(this.options.companion && script.toLowerCase() === 'latent upscale companion')) {
        // get_script looks the title up through script_name_to_index, which raises this before init_script_args
        // could say "always on script … not found" (A1111 v1.10.1 modules/api/api.py).
        return send(422, { detail: `Script '${script}' not found` });
      }
    }
    const image = String(images[0]).replace(/^data:[^,]*,/, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(image)) return send(500, { error: 'HTTPException', detail: 'Invalid encoded image', body: '', errors: 'Invalid encoded image' });
    const failure = this.failNext ?? this.behaviour.failAlways;
    this.failNext = undefined;
    if (failure) return send(failure.status, failure.body);
    await this.generate(request);
    if (this.behaviour.garbage === 'not-json') {
      response.writeHead(200, { 'content-type': 'text/html' });
      return void response.end('<html>Internal proxy error</html>');
    }
    const seed = request.seed === -1 ? 1234567 : request.seed;
    const infotext = [
      request.prompt,
      [`Steps: ${request.steps}`, `Sampler: ${String(request.sampler_name)}`, `Seed: ${seed}`, `Size: ${request.width}x${request.height}`, ...this.companionFields(request.alwayson_scripts)].join(', '),
    ].filter((line) => line !== '').join('\n');
    const png = this.options.photo === true && this.behaviour.garbage === undefined
      ? await this.photoAnswer(request.width, request.height, seed, infotext)
      : await answerImage(this.behaviour.garbage, request.width, request.height, infotext);
    const model = this.options.model ?? FAKE_MODEL;
    this.onAnswer?.();
    await sendJson(response, 200, {
      images: [Buffer.from(png).toString('base64')],
      parameters: { ...request, init_images: null },
      info: JSON.stringify({
        seed, width: request.width, height: request.height, sampler_name: request.sampler_name, steps: request.steps, denoising_strength: request.denoising_strength,
        sd_model_name: model.name, sd_model_hash: model.hash, infotexts: [infotext],
      }),
    }, {}, () => this.whileHeld(() => this.holdAnswer));
  }

  /**
   * What the companion adds to the infotext when it runs (its p.extra_generation_params): nothing when it is
   * not asked for, is off, or fails, as a script that raises leaves the job to run stock.
   */
  private companionFields(scripts: Record<string, unknown>): string[] {
    const entry = Object.entries(scripts).find(([title]) => title.toLowerCase() === 'latent upscale companion')?.[1] as { args?: unknown[] } | undefined;
    const [enabled, method, scheduler] = entry?.args ?? [];
    if (enabled !== true || this.behaviour.companionFails) return [];
    if (!UPSCALE_METHOD_NAMES.includes(String(method)) || !SCHEDULER_NAMES.includes(String(scheduler))) return [];
    return [`Latent upscale method: ${String(method)}`, ...(scheduler === 'automatic' ? [] : [`Latent upscale schedule: ${String(scheduler)}`])];
  }

  private photoAnswer(width: number, height: number, seed: number, infotext: string): Promise<Uint8Array> {
    const key = `${width}x${height} ${seed} ${infotext}`;
    let png = this.photoAnswers.get(key);
    if (png === undefined) {
      if (this.photoAnswers.size >= PHOTO_CACHE_ENTRIES) this.photoAnswers.clear();
      png = photoLikePng(width, height, seed).then((photo) => setPngText(photo, 'parameters', infotext));
      this.photoAnswers.set(key, png);
    }
    return png;
  }

  /** Sampling under A1111's queue_lock: one job at a time, step by step, stoppable by /interrupt. */
  private async generate(request: { steps: number; denoising_strength: number; override_settings: Record<string, unknown> | null }): Promise<void> {
    const previous = this.queueLock;
    let release = (): void => undefined;
    this.queueLock = new Promise((resolve) => (release = resolve));
    await previous;
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    let restore = (): void => undefined;
    try {
      // Overrides laid over opts.data for the job; afterwards only keys opts.data had are restored, as
      // A1111 v1.10 does (modules/processing.py process_images: stored_opts skips absent keys).
      const overrides = request.override_settings ?? {};
      const stored = Object.fromEntries(Object.keys(overrides).filter((key) => key in this.settings).map((key) => [key, this.settings[key]]));
      Object.assign(this.settings, overrides);
      restore = () => Object.assign(this.settings, stored);
      const fixSteps = this.settings['img2img_fix_steps'] === true;
      const steps = fixSteps ? request.steps : Math.trunc(Math.min(request.denoising_strength, 0.999) * request.steps) + 1;
      this.progress = { job_count: 1, sampling_step: 0, sampling_steps: steps, interrupted: false, started: Date.now() };
      // Live previews as A1111 makes them with live_previews_enable: a new image every n steps.
      const every = this.settings['live_previews_enable'] === true ? Number(this.settings['show_progress_every_n_steps'] ?? 10) : 0;
      for (let step = 1; step <= steps && !this.progress.interrupted; step++) {
        await sleep(this.behaviour.stepDelayMs);
        await this.whileHeld(() => this.behaviour.hang);
        if (every > 0 && step % every === 0) this.currentImage = Buffer.from(fakePreview(step)).toString('base64');
        this.progress.sampling_step = step;
        this.onStep?.(step);
        if (step === this.holdAfterStep) this.behaviour.hang = true;
      }
    } finally {
      restore();
      this.progress.job_count = 0;
      this.currentImage = null;
      this.concurrent--;
      release();
    }
  }

  /** Ends when `held` no longer holds, or when the fake stops so that a stopped fake lets its process exit. */
  private async whileHeld(held: () => boolean): Promise<void> {
    while (held() && this.server?.listening) await sleep(20);
  }

  private progressBody(skipImage: boolean): unknown {
    const { job_count, sampling_step, sampling_steps, interrupted, started } = this.progress;
    if (job_count === 0) return { progress: 0, eta_relative: 0, state: { ...this.progress, job_no: 0 }, current_image: null, textinfo: null };
    const progress = Math.min(0.01 + sampling_step / Math.max(sampling_steps, 1), 1);
    const elapsed = (Date.now() - started) / 1000;
    const current_image = skipImage ? null : this.currentImage;
    return { progress, eta_relative: elapsed / progress - elapsed, state: { job_count, sampling_step, sampling_steps, interrupted, job_no: 0 }, current_image, textinfo: null };
  }

  private authorised(header: string | undefined): boolean {
    const { username, password } = this.options.auth!;
    return header === `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
}

/** The fake's live preview at a step: 16×16, its red level the step (so tests can tell previews apart). */
export function fakePreview(step: number): Uint8Array {
  return encodeRgbPng(16, 16, () => [(step * 10) % 256, 64, 128]);
}

/** The image img2img sends: what it generated, or the kind of broken image `garbage` asks for. */
async function answerImage(garbage: FakeBehaviour['garbage'], width: number, height: number, infotext: string): Promise<Uint8Array> {
  const generated = (w: number, h: number): Uint8Array => setPngText(encodeRgbPng(w, h, (x, y) => [x % 256, y % 256, 128]), 'parameters', infotext);
  if (garbage === 'bad-image') return Buffer.from('these bytes are not an image');
  if (garbage === 'wrong-size') return generated(width / 2, height / 2);
  const png = generated(width, height);
  if (garbage === 'truncated-png') return png.subarray(0, Math.floor(png.length / 2));
  if (garbage === 'corrupt-png') return flipIdatBytes(png);
  if (garbage === 'flipped-byte') {
    const changed = Uint8Array.from(png);
    changed[33 + 8 + 10] = changed[33 + 8 + 10]! ^ 0x01; // a byte of the first IDAT's data (signature 8 + IHDR 25 = 33)
    return changed;
  }
  if (garbage === 'jpeg') return sharp(Buffer.from(png)).jpeg().toBuffer();
  if (garbage === 'webp') return sharp(Buffer.from(png)).webp({ lossless: true }).toBuffer();
  if (garbage === 'truncated-jpeg') {
    const jpeg = await sharp(Buffer.from(png)).jpeg().toBuffer();
    return jpeg.subarray(0, Math.floor(jpeg.length / 2));
  }
  return png;
}

/** Inverts 16 bytes in the middle of the compressed pixels and rewrites the CRC, so the chunks still check out. */
function flipIdatBytes(png: Uint8Array): Uint8Array {
  const chunks = readPngChunks(png).map((chunk) => {
    if (chunk.type !== 'IDAT') return pngChunk(chunk.type, chunk.data);
    const data = Uint8Array.from(chunk.data);
    const middle = Math.floor(data.length / 2);
    for (let i = middle; i < Math.min(middle + 16, data.length); i++) data[i] = data[i]! ^ 0xff;
    return pngChunk('IDAT', data);
  });
  return concat([png.subarray(0, 8), ...chunks]);
}

function isBehaviourField(key: string): key is keyof FakeBehaviour {
  return Object.hasOwn(BEHAVIOUR_DEFAULTS, key);
}

/** The behaviour fields of `source`; null (JSON's only way to say "unset") restores a field's default. */
function behaviourFields(source: object): Partial<FakeBehaviour> {
  const fields = Object.entries(source).filter((entry): entry is [keyof FakeBehaviour, unknown] => isBehaviourField(entry[0]));
  return Object.fromEntries(fields.map(([key, value]) => [key, value ?? BEHAVIOUR_DEFAULTS[key]]));
}

/**
 * With a content-length, as uvicorn sends FastAPI's JSONResponse (not chunked). With `midway`, half the body
 * goes out and the rest once `midway` has resolved.
 */
async function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, midway?: () => Promise<void>): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers });
  if (midway !== undefined) {
    const half = bytes.length >> 1;
    response.write(bytes.subarray(0, half));
    await midway();
    response.end(bytes.subarray(half));
  } else {
    response.end(bytes);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}
