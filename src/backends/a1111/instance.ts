import { BackendError } from '../../errors.js';
import type { PreviewImage, ProgressReport, UpscaleOutcome, UpscaleWork } from '../backend.js';
import { readImageHeader } from '../../images/sniff.js';
import { readImg2imgAnswer } from './answer.js';
import type { A1111Client, A1111Progress } from './client.js';
import { COMPANION_SCRIPT_TITLE, OVERRIDE_KEYS, companionProblem, img2imgBody, type A1111Mode } from './payload.js';

export interface InstancePolicy {
  readonly progressIntervalMs: number;
  /** A running job whose step has not moved for this long is interrupted and moved (A1111_STALL_SECONDS). */
  readonly stallMs: number;
  /** Failed jobs in a row after which the instance is taken out of service (A1111_MAX_FAILURES). */
  readonly maxFailures: number;
  /** Decode every answer's pixels too, not only check its structure (A1111_CHECK_PIXELS; see answer.ts). */
  readonly checkPixels: boolean;
  /** Our jobs at the instance at once (A1111_QUEUE_DEPTH): the running one, and with 2 the next waiting behind it. */
  readonly queueDepth: number;
  /** How long it stays out the first time; each further failure while out of favour doubles it. */
  readonly quarantineMs: number;
  readonly now?: () => number;
  readonly log?: (message: string) => void;
}

const MAX_QUARANTINE_MS = 5 * 60_000;
const INTERRUPT_WAIT_MS = 1000;

/**
 * One A1111 instance: what it can do (detected from its scripts and schedulers), whether it is usable,
 * and which of our jobs it has. A1111 serialises generation, so an instance runs one job at a time; with
 * A1111_QUEUE_DEPTH 2 the next one is sent to wait at A1111's queue, so that A1111 goes on to it without
 * the gap of its answer, our reading it and the next request.
 * An instance that fails job after job while still answering probes (a broken model, a full disk) is a
 * trap for every queued job, so consecutive failures take it out for a while, like a circuit breaker.
 */
export class A1111Instance {
  mode: A1111Mode | undefined;
  /** Our jobs here whose answers have not begun, in the order they are sent (A1111 runs them so). */
  private readonly line: Turn[] = [];
  private reachable = false;
  private failures = 0;
  private outUntil = 0;
  private probeError: string | undefined;
  private faultError: string | undefined;
  /** The instance's settings at the last probe; undefined when it would not say (older A1111, no access). */
  private settings: Readonly<Record<string, unknown>> | undefined;
  /** Override keys its settings lack, in words; logged when it changes. */
  warning: string | undefined;

  constructor(readonly client: A1111Client, private readonly policy: InstancePolicy) {}

  get url(): string {
    return this.client.endpoint.url;
  }

  get inLine(): number {
    return this.line.length;
  }

  /**
   * No room for another job: the line is full (A1111_QUEUE_DEPTH), its last job is not yet seen generating
   * as ours (a job sent behind it could run first, or wait behind someone else's), or it holds a cancelled
   * job not yet interrupted.
   */
  get busy(): boolean {
    const last = this.line.at(-1);
    return this.line.length >= this.policy.queueDepth || (last !== undefined && !last.seenGenerating) || this.line.some((turn) => turn.abandoned);
  }

  get healthy(): boolean {
    return this.reachable && this.mode !== undefined && this.now() >= this.outUntil;
  }

  get lastError(): string | undefined {
    return this.probeError ?? (this.now() < this.outUntil ? this.faultError : undefined);
  }

  /** Probe the instance; on success it is reachable and its mode is known, on failure it is marked down. */
  async detect(): Promise<void> {
    try {
      const [scripts, schedulers, settings] = await Promise.all([this.client.scripts(), this.client.schedulers(), this.client.settings().catch(() => undefined)]);
      const companion = scripts.img2img.map((s) => s.toLowerCase()).includes(COMPANION_SCRIPT_TITLE.toLowerCase());
      this.mode = { kind: companion ? 'companion' : 'native', schedulers };
      this.noteSettings(settings);
      this.reachable = true;
      this.probeError = undefined;
    } catch (error) {
      this.reachable = false;
      this.probeError = (error as Error).message;
    }
  }

  /**
   * Keeps the settings, and warns (once per change, in the log and /readyz) of override keys they lack:
   * A1111 saves only keys present in opts.data before a job and restores those (modules/processing.py
   * process_images, stored_opts), so an absent one keeps the job's value afterwards, for its UI users too.
   */
  private noteSettings(settings: Record<string, unknown> | undefined): void {
    this.settings = settings;
    const missing = settings === undefined ? [] : OVERRIDE_KEYS.filter((key) => !(key in settings));
    const warning = missing.length === 0 ? undefined : `its settings have no ${missing.join(', ')} (an API-only install?): A1111 applies such an override but never restores it, so a job's value stays for everyone else on this instance`;
    if (warning !== undefined && warning !== this.warning) this.policy.log?.(`A1111 at ${this.url}: ${warning}`);
    this.warning = warning;
  }

  private succeeded(): void {
    this.failures = 0;
  }

  /** A job failed here: unreachable means down until a probe answers; stalls and repeated failures mean out for a while. */
  private failed(error: BackendError, stalled: boolean): void {
    this.failures++;
    if (error.code === 'BACKEND_UNAVAILABLE') {
      this.reachable = false;
      this.probeError = error.message;
    }
    if (stalled || this.failures >= this.policy.maxFailures) {
      const doublings = Math.max(0, this.failures - this.policy.maxFailures);
      const outMs = Math.min(this.policy.quarantineMs * 2 ** doublings, MAX_QUARANTINE_MS);
      this.outUntil = this.now() + outMs;
      const why = stalled ? 'it stalled' : `${this.failures} jobs failed in a row (A1111_MAX_FAILURES)`;
      this.faultError = `A1111 at ${this.url} taken out of service for ${outMs / 1000} s: ${why}; last: ${error.message}`;
    }
  }

  /** Takes the next place in line for a leased job; `onChange` is told when it is seen generating or leaves (room for another). */
  takeTurn(onChange: () => void): Turn {
    const turn = new Turn(this.line.at(-1), (changed) => {
      if (changed.hasLeft) this.line.splice(this.line.indexOf(changed), 1);
      onChange();
    });
    this.line.push(turn);
    return turn;
  }

  /**
   * Runs img2img, polling /progress meanwhile. A cancel (signal) or a stall aborts the HTTP call at once and
   * interrupts A1111; the call then rejects with the cancel's reason or a 504 naming the stall. Once A1111
   * starts answering, the job has left it: the turn is left (the instance may take its next job while this
   * answer is read and checked), nothing polls /progress or interrupts any more (both would concern the next
   * job), and an answer that is not whole within the stall time fails as a stall. A job behind another of
   * ours (leased only once that one is seen generating, see busy) waits at A1111's queue; cancelled there,
   * it cannot be interrupted without stopping the one ahead, so the call rejects at once while the instance
   * lets it reach the front, interrupts it and takes nothing new until its answer begins.
   */
  async run(work: UpscaleWork, onProgress: (report: ProgressReport) => void, signal: AbortSignal, turn: Turn): Promise<UpscaleOutcome> {
    const ahead = turn.ahead;
    try {
      const body = img2imgBody(work, this.mode!, this.settings);
      const queued = ahead !== undefined && !ahead.hasLeft ? ahead : undefined;
      // /progress names no task: it shows whatever A1111 runs. Only when nothing ran as we sent ours (A1111
      // runs one job at a time, in order) is what it shows ours; else its images and step count could be
      // another client's or a UI user's, and are not passed on. A job waiting behind one of ours is ours:
      // that one was seen generating as ours. The probe goes out beside the job, not before it (a round trip
      // less on every job): answered after the job began, it shows it running and the job counts as not
      // ours, which costs its previews and step count (and at depth 2 the job behind it waits for it to
      // leave). As before, another client's job that starts between the probe and ours is not seen.
      const ours = queued !== undefined ? Promise.resolve(true) : this.client.progress().then((progress) => progress.state.job_count === 0, () => false);
      const outcome = await this.generate(work, body, onProgress, signal, turn, ours, queued);
      this.succeeded();
      return outcome;
    } catch (error) {
      // Counted before the turn is left, so that an instance failing before it answers is out before it gets
      // the next job (one that fails in its answer has had the next sent already). A cancel is nobody's
      // fault; anything else the instance did counts against it.
      if (error instanceof BackendError && !signal.aborted) this.failed(error, error instanceof StallError);
      throw error;
    } finally {
      if (!turn.abandoned) turn.leave();
    }
  }

  private async generate(work: UpscaleWork, body: Buffer, onProgress: (report: ProgressReport) => void, signal: AbortSignal, turn: Turn, ours: Promise<boolean>, queued: Turn | undefined): Promise<UpscaleOutcome> {
    signal.throwIfAborted();
    const transfer = new AbortController();
    let answering = false;
    let interrupting: Promise<void> | undefined;
    const interrupt = (): void => void (interrupting ??= this.client.interrupt().catch(() => undefined));
    const stop = (reason: unknown): void => {
      if (!answering) interrupt();
      transfer.abort(reason);
    };
    let abandon: (reason: unknown) => void = () => undefined;
    const abandoned = new Promise<never>((_resolve, reject) => (abandon = reject));
    const onCancel = (): void => {
      if (queued === undefined || queued.hasLeft || answering) return stop(signal.reason);
      turn.abandoned = true;
      abandon(signal.reason);
    };
    const watch = this.watchProgress({
      onProgress, turn, ours, previews: work.preview.mode !== 'off',
      onStall: (what) => stop(new StallError(this.url, this.policy.stallMs, what)),
      onGenerating: () => (turn.abandoned ? interrupt() : turn.generating()),
      ...(queued !== undefined ? { after: queued } : {}),
    });
    const answer = async (): Promise<UpscaleOutcome> => {
      try {
        const response = await this.client.img2img(body, transfer.signal, () => {
          answering = true;
          turn.answered = true;
          watch.answering();
          if (turn.abandoned) transfer.abort(signal.reason);
          turn.leave();
        });
        transfer.signal.throwIfAborted();
        const answer = await readImg2imgAnswer(response, work, `A1111 at ${this.url}`, this.policy.checkPixels);
        const skipped = this.mode!.kind === 'companion' ? companionProblem(answer.infotext, work) : undefined;
        if (skipped !== undefined) {
          throw new BackendError(`A1111 at ${this.url} ran the job without the companion: ${skipped}. A1111 logs a failing always-on script and goes on with its own bilinear upscale and schedule (modules/scripts.py ScriptRunner.process), so its console says why`, 'BACKEND_BAD_ANSWER');
        }
        const stepsRun = watch.stepsRun();
        return {
          png: answer.png, seed: answer.seed ?? work.seed, ranOn: this.url, notes: answer.notes,
          ...(answer.model ? { model: answer.model } : {}), ...(answer.modelHash ? { modelHash: answer.modelHash } : {}), ...(stepsRun !== undefined ? { stepsRun } : {}),
        };
      } catch (error) {
        if (!transfer.signal.aborted) throw error;
        // Give /interrupt a moment to land (a shutting-down service would otherwise exit first), no more:
        // an A1111 that hangs may not answer it at all.
        await Promise.race([interrupting, new Promise((resolve) => setTimeout(resolve, INTERRUPT_WAIT_MS).unref())]);
        throw transfer.signal.reason;
      } finally {
        watch.stop();
        signal.removeEventListener('abort', onCancel);
        // Otherwise run leaves it, once the outcome is counted.
        if (turn.abandoned) turn.leave();
      }
    };
    signal.addEventListener('abort', onCancel, { once: true });
    const answered = answer();
    // An abandoned job's call goes on unheard.
    answered.catch(() => undefined);
    return Promise.race([answered, abandoned]);
  }

  /**
   * Polls /progress, one poll at a time; calls `onStall` once the step has not moved for stallMs. With
   * `previews`, each new current_image goes out with the report (A1111 repeats the latest on every poll),
   * once the job is known to be `ours`; only then is the step count it shows kept as the steps run, and a
   * job shown running reported to `onGenerating`. A job waiting behind another starts polling `after`
   * that one has left (what /progress shows before is that one's), at once when a job may be waiting on
   * it. From `answering` on it only times the answer, with `onStall` told that the answer is what stalled.
   */
  private watchProgress(watching: {
    readonly onProgress: (report: ProgressReport) => void;
    readonly onStall: (what: StalledPart) => void;
    readonly onGenerating: () => void;
    readonly turn: Turn;
    readonly ours: Promise<boolean>;
    readonly previews: boolean;
    readonly after?: Turn;
  }): { stop(): void; answering(): void; stepsRun(): number | undefined } {
    const { onProgress, onStall, onGenerating } = watching;
    let ours = false;
    let previews = false;
    let disowned = false;
    const own = (value: boolean): void => {
      ours = value && !disowned;
      previews = ours && watching.previews;
    };
    void watching.ours.then(own);
    let lastState = '';
    let lastImage: string | null | undefined;
    let stepsRun: number | undefined;
    let lastChange = this.now();
    let polling = false;
    let answering = false;
    let active = watching.after === undefined;
    // Once stopped, nothing may reach the turn: the instance may have leased it to the next job already.
    let stopped = false;
    const poll = (): void => {
      if (stopped || polling || answering) return;
      polling = true;
      this.client.progress(previews).then((progress) => {
        if (stopped) return;
        const state = `${progress.state.job_count}/${progress.state.sampling_step}/${progress.state.sampling_steps}/${progress.progress}`;
        if (state !== lastState) {
          lastState = state;
          lastChange = this.now();
        }
        if (answering) return;
        if (ours && progress.state.job_count > 0) onGenerating();
        if (watching.turn.abandoned) return;
        if (ours && progress.state.job_count > 0 && progress.state.sampling_steps > 0) stepsRun = progress.state.sampling_steps;
        const image = progress.current_image;
        const preview = previews && typeof image === 'string' && image !== '' && image !== lastImage ? previewImage(progress, image) : undefined;
        lastImage = image;
        onProgress({ ...progressReport(progress), ...(preview ? { preview } : {}) });
      }, () => undefined).finally(() => (polling = false));
    };
    const timer = setInterval(() => {
      if (!active) return;
      if (this.now() - lastChange > this.policy.stallMs) {
        clearInterval(timer);
        onStall(answering ? 'answer' : 'progress');
        return;
      }
      poll();
    }, this.policy.progressIntervalMs);
    void watching.after?.left.then(() => {
      // A job ahead that ended without its answer (cancelled, stalled, cut off) may still be stopping at
      // A1111, for seconds: what /progress shows is not surely this one's any more.
      if (!watching.after!.answered) {
        disowned = true;
        own(false);
      }
      if (stopped || active || answering) return;
      active = true;
      lastChange = this.now();
      if (this.policy.queueDepth > 1) poll();
    });
    // With room for a job behind this one, the sooner it is seen generating the better.
    if (active && this.policy.queueDepth > 1) void watching.ours.then(poll);
    return {
      stop: () => {
        clearInterval(timer);
        stopped = true;
      },
      answering: () => {
        answering = true;
        active = true;
        lastChange = this.now();
      },
      stepsRun: () => stepsRun,
    };
  }

  private now(): number {
    return (this.policy.now ?? Date.now)();
  }
}

/** What stalled: the generation (/progress stood still) or the answer after it (not whole in time). */
type StalledPart = 'progress' | 'answer';

/** A job whose A1111 stopped making progress, or stopped short in its answer; the instance is taken out and the job moved. */
export class StallError extends BackendError {
  constructor(url: string, stallMs: number, what: StalledPart) {
    super(what === 'progress'
      ? `A1111 at ${url} made no progress for ${stallMs / 1000} s (A1111_STALL_SECONDS); it was interrupted and taken out of service`
      : `A1111 at ${url} began its answer but had not finished it ${stallMs / 1000} s later (A1111_STALL_SECONDS); it was taken out of service`, 'BACKEND_TIMEOUT');
  }
}

function progressReport(progress: A1111Progress): ProgressReport {
  return {
    progress: Math.min(Math.max(progress.progress, 0), 1),
    step: progress.state.sampling_step,
    steps: progress.state.sampling_steps,
    etaSeconds: progress.eta_relative,
  };
}

/** A1111's current_image as a preview, when it is an image (a broken one is skipped, not fatal). */
function previewImage(progress: A1111Progress, image: string): PreviewImage | undefined {
  const bytes = Buffer.from(image.replace(/^data:[^,]*,/, ''), 'base64');
  const header = readImageHeader(bytes);
  if ('problem' in header) return undefined;
  return { step: progress.state.sampling_step, steps: progress.state.sampling_steps, mime: `image/${header.format}`, bytes };
}

/**
 * A leased job's place in an instance's line. A turn is taken behind another only once that one is seen
 * generating (A1111Instance.busy): sent together, A1111 could take them in either order, and a cancel's
 * /interrupt would stop the wrong one. A job leaves the line when its answer begins or its call ends.
 */
export class Turn {
  /** Cancelled while waiting behind another; its call goes on until it can be interrupted. */
  abandoned = false;
  /** /progress has shown it generating, as ours. */
  seenGenerating = false;
  /** A1111 began its answer (else it ended by a cancel, a stall or a failure). */
  answered = false;
  hasLeft = false;
  readonly left: Promise<void>;
  private markLeft: () => void = () => undefined;

  constructor(public ahead: Turn | undefined, private readonly onChange: (turn: Turn) => void) {
    this.left = new Promise((resolve) => (this.markLeft = resolve));
  }

  generating(): void {
    if (this.seenGenerating || this.hasLeft) return;
    this.seenGenerating = true;
    this.onChange(this);
  }

  leave(): void {
    if (this.hasLeft) return;
    this.hasLeft = true;
    // Each turn would otherwise keep every one before it.
    this.ahead = undefined;
    this.markLeft();
    this.onChange(this);
  }
}
