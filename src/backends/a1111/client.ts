import { request, type Dispatcher } from 'undici';
import type { A1111Endpoint } from '../../config.js';
import { BackendError } from '../../errors.js';
import { Img2imgReplyReader, type Img2imgReply } from './img2img-reply.js';

/** The parts of A1111's /sdapi/v1 API the service uses (A1111 v1.10 modules/api/api.py and modules/api/models.py). */
export interface A1111Progress {
  readonly progress: number;
  readonly eta_relative: number;
  readonly state: { readonly sampling_step: number; readonly sampling_steps: number; readonly job_count: number; readonly interrupted?: boolean };
  /** The latest live preview as base64 (in the instance's samples_format), when asked for and there is one. */
  readonly current_image?: string | null;
}

export interface A1111SchedulerInfo {
  readonly name: string;
  readonly label: string;
  readonly aliases?: readonly string[] | null;
}

export interface ClientOptions {
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly dispatcher?: Dispatcher;
}

/** One A1111 instance over HTTP, with every failure turned into a BackendError that names the instance. */
export class A1111Client {
  private readonly authorization?: string;

  constructor(readonly endpoint: A1111Endpoint, private readonly options: ClientOptions) {
    if (endpoint.username !== undefined) {
      this.authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}`;
    }
  }

  scripts(): Promise<{ img2img: string[]; txt2img: string[] }> {
    return this.call('GET', '/sdapi/v1/scripts');
  }

  /** A1111 ≥ 1.9 lists its schedulers; older versions answer 404, which means "only automatic". */
  async schedulers(): Promise<A1111SchedulerInfo[] | undefined> {
    try {
      return await this.call<A1111SchedulerInfo[]>('GET', '/sdapi/v1/schedulers');
    } catch (error) {
      if (error instanceof A1111StatusError && error.answered === 404) return undefined;
      throw error;
    }
  }

  /**
   * `body` is the request's JSON (payload.ts img2imgBody). `onAnswer` is called when a successful answer
   * starts, before its body is read: A1111 has then finished the job (FastAPI sends nothing until the
   * route returns).
   */
  img2img(body: Buffer, signal?: AbortSignal, onAnswer?: () => void): Promise<Img2imgReply> {
    return this.exchange('POST', '/sdapi/v1/img2img', (length) => {
      onAnswer?.();
      return new Img2imgReplyReader(length);
    }, body, this.options.timeoutMs, signal);
  }

  /** The instance's settings (opts.data), what override_settings may change for a job. */
  settings(): Promise<Record<string, unknown>> {
    return this.call('GET', '/sdapi/v1/options');
  }

  /** With `image`, the live preview comes too (megabytes at Full size; only polled for jobs that want it). */
  progress(image = false): Promise<A1111Progress> {
    return this.call('GET', `/sdapi/v1/progress?skip_current_image=${image ? 'false' : 'true'}`);
  }

  async interrupt(): Promise<void> {
    await this.call('POST', '/sdapi/v1/interrupt', {});
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.options.probeTimeoutMs, signal?: AbortSignal): Promise<T> {
    return this.exchange(method, path, () => new WholeBody((bytes) => JSON.parse(bytes.toString('utf8')) as T), body, timeoutMs, signal);
  }

  /**
   * One request, `body` as JSON (bytes are sent as they are). A successful answer's body goes to a reader
   * as it arrives, which gives the result (its SyntaxError means "not JSON"); `reader` gets the
   * content-length when there is one.
   */
  private async exchange<T>(method: 'GET' | 'POST', path: string, reader: (length?: number) => BodyReader<T>, body?: unknown, timeoutMs = this.options.probeTimeoutMs, signal?: AbortSignal): Promise<T> {
    const where = `A1111 at ${this.endpoint.url}`;
    // One deadline for the whole exchange (undici's own timeouts tick in whole seconds).
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
    const fail = (error: unknown): Error => deadline.aborted
      ? new BackendError(`${where} did not answer ${path} within ${timeoutMs / 1000} s`, 'BACKEND_TIMEOUT')
      : requestFailure(where, error);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.endpoint.url}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
        signal: combined,
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      });
    } catch (error) {
      throw fail(error);
    }
    // The first bytes are kept for messages about an answer that is not what it should be.
    let opening = Buffer.alloc(0);
    const consume = async <R>(into: BodyReader<R>): Promise<R> => {
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          if (opening.length < OPENING_BYTES) opening = Buffer.concat([opening, chunk.subarray(0, OPENING_BYTES - opening.length)]);
          into.write(chunk);
        }
      } catch (error) {
        throw fail(error);
      }
      return into.end();
    };
    if (response.statusCode >= 400) {
      const text = await consume(new WholeBody((bytes) => bytes.toString('utf8')));
      const hint = response.statusCode === 401 ? ' (check the user:password in A1111_URLS against A1111\'s --api-auth)' : '';
      throw new A1111StatusError(`${where} answered ${response.statusCode} to ${method} ${path}: ${a1111Message(text)}${hint}`, response.statusCode);
    }
    const length = Number(response.headers['content-length']);
    try {
      return await consume(reader(Number.isSafeInteger(length) ? length : undefined));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      throw new BackendError(`${where} answered ${method} ${path} with something that is not JSON: ${opening.toString('utf8')}`, 'BACKEND_BAD_ANSWER');
    }
  }
}

/** How much of an answer a message about it quotes. */
const OPENING_BYTES = 200;

/** Takes an answer's body chunk by chunk; `end` gives what it reads. */
export interface BodyReader<T> {
  write(chunk: Buffer): void;
  end(): T;
}

/** A body read whole, then turned into the result. */
class WholeBody<T> implements BodyReader<T> {
  private readonly chunks: Buffer[] = [];

  constructor(private readonly read: (bytes: Buffer) => T) {}

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  end(): T {
    return this.read(Buffer.concat(this.chunks));
  }
}

/** A1111 answered with an HTTP error status (kept, so callers can tell a missing route from a failure). */
export class A1111StatusError extends BackendError {
  constructor(message: string, readonly answered: number) {
    super(message, 'BACKEND_BAD_ANSWER');
  }
}

/** A1111 errors are {"detail": …} (FastAPI) or {"error", "detail", "errors"} (its own handler). */
function a1111Message(text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown; errors?: unknown; error?: unknown };
    const parts = [body.error, body.errors ?? body.detail].filter((p) => p !== undefined && p !== null && p !== '');
    if (parts.length > 0) return parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(': ');
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 300) || '(empty body)';
}

function requestFailure(where: string, error: unknown): Error {
  if ((error as Error).name === 'AbortError') return error as Error;
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new BackendError(`${where} is unreachable (${code})`, 'BACKEND_UNAVAILABLE');
}
