/**
 * Every error a caller can get, by its stable machine-readable code: the HTTP status it answers with and
 * what it means. Error bodies, job errors, the OpenAPI document and the README's table all come from
 * this one list, so a client can switch on `code` and never on the wording of `message`.
 */
export const ERROR_CODES = {
  INVALID_REQUEST: { status: 400, meaning: 'A field is missing, has the wrong type or is out of range; the message names each field.' },
  UNKNOWN_FIELD: { status: 400, meaning: 'A field this route does not take; the message names it, and the field meant where it is an A1111 name.' },
  INVALID_JSON: { status: 400, meaning: 'The body is not valid JSON.' },
  IMAGE_NOT_BASE64: { status: 400, meaning: 'The image field is not base64, or decodes to nothing.' },
  UNAUTHORIZED: { status: 401, meaning: 'API_KEYS is set and the request has no known key (Authorization: Bearer <key>).' },
  NOT_FOUND: { status: 404, meaning: 'No such route.' },
  JOB_NOT_FOUND: { status: 404, meaning: 'No such job for this key: unknown, expired (RESULT_TTL_SECONDS), created with another key, or lost with a Redis that restarted without persistence.' },
  PREVIEW_NOT_READY: { status: 404, meaning: 'The job has no preview now: it was submitted with preview off, has not reached a preview step yet, or has ended (previews go when it ends).' },
  RESULT_EXPIRED: { status: 404, meaning: 'The job finished but its result is no longer stored (RESULT_TTL_SECONDS, or in-process RESULT_STORE_MB).' },
  JOB_NOT_FINISHED: { status: 409, meaning: 'The job has no result yet; poll GET /jobs/{id} or follow its events.' },
  JOB_FINISHED: { status: 409, meaning: 'The job has already ended, so it cannot be cancelled.' },
  JOB_CANCELLED: { status: 409, meaning: 'The job was cancelled.' },
  BODY_TOO_LARGE: { status: 413, meaning: 'The request body is larger than MAX_BODY_MB.' },
  IMAGE_TOO_LARGE: { status: 413, meaning: 'The input image is larger than MAX_INPUT_MEGAPIXELS.' },
  LATENT_TOO_LARGE: { status: 413, meaning: 'The resized latent would be larger than the latent limit (MAX_OUTPUT_MEGAPIXELS in latent cells).' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The Content-Type is not one this route takes.' },
  IMAGE_UNSUPPORTED_FORMAT: { status: 422, meaning: 'The image is not a PNG, JPEG or WebP file.' },
  IMAGE_UNREADABLE: { status: 422, meaning: 'The image is corrupt or truncated: its header or pixel data does not decode.' },
  OUTPUT_TOO_LARGE: { status: 422, meaning: 'The requested output is larger than MAX_OUTPUT_MEGAPIXELS.' },
  INVALID_SIZE: { status: 422, meaning: 'The size fields do not fit together (scale, or width and height).' },
  INVALID_SCHEDULE: { status: 422, meaning: 'Steps and denoise give no schedule within the limits.' },
  CONFLICTING_FIELDS: { status: 422, meaning: 'Two fields say different things (a combined sampler label such as "DPM++ 2M Karras" and another scheduler).' },
  UNKNOWN_METHOD: { status: 422, meaning: 'Unknown latent upscale method; the message lists the allowed ones.' },
  UNKNOWN_SCHEDULER: { status: 422, meaning: 'Unknown scheduler; the message lists the allowed ones.' },
  UNKNOWN_SAMPLER: { status: 422, meaning: 'Unknown sampler; the message lists the allowed ones.' },
  UNKNOWN_SIGMA_TABLE: { status: 422, meaning: 'Unknown sigma table; the message lists the allowed ones.' },
  UNKNOWN_BACKEND: { status: 422, meaning: 'Unknown or unconfigured backend; the message lists the configured ones.' },
  UNKNOWN_MODEL: { status: 422, meaning: 'No such model; the message lists the loaded ones (GET /models).' },
  UNSUPPORTED_BY_BACKEND: { status: 422, meaning: 'The backend cannot run these settings (a sampler, scheduler or method it lacks, a clip_skip the model does not take).' },
  LATENT_UNREADABLE: { status: 422, meaning: 'The latent body is not a readable .npy, safetensors or ComfyUI .latent file.' },
  INVALID_LATENT: { status: 422, meaning: 'The latent has a shape or target size that cannot be resized.' },
  RATE_LIMITED: { status: 429, meaning: 'More than RATE_LIMIT_PER_MINUTE requests from this key or address; retry after the time given.' },
  INTERNAL_ERROR: { status: 500, meaning: 'A bug; the service log has the details.' },
  BACKEND_BAD_ANSWER: { status: 502, meaning: 'The backend answered with an error or with something unusable (not JSON, not a decodable PNG); the message says what it sent.' },
  BACKEND_UNAVAILABLE: { status: 503, meaning: 'No backend unit can run the job now (unreachable, down, none configured); retry later.' },
  MODEL_NOT_READY: { status: 503, meaning: 'The model is still being converted from its checkpoint; retry later.' },
  QUEUE_FULL: { status: 503, meaning: 'MAX_QUEUE jobs are already waiting; retry later.' },
  OVERLOADED: { status: 503, meaning: 'The event loop is too busy to take this request (MAX_EVENT_LOOP_DELAY_MS); retry later.' },
  SHUTTING_DOWN: { status: 503, meaning: 'This process is shutting down; submit again (to another node).' },
  STORE_UNAVAILABLE: { status: 503, meaning: 'Redis does not answer (REDIS_TIMEOUT_MS); retry later.' },
  JOB_LOST: { status: 503, meaning: 'The job vanished from its store while it ran (a Redis restarted without persistence); submit it again.' },
  BACKEND_TIMEOUT: { status: 504, meaning: 'The backend did not answer in time, or stopped making progress (A1111_TIMEOUT_SECONDS, A1111_STALL_SECONDS).' },
  INVALID_ARGUMENT: { status: 422, meaning: 'Command line only: an option or argument the command cannot use.' },
  FILE_UNREADABLE: { status: 422, meaning: 'Command line and model loading: a file that cannot be read, written or used (checkpoint, tokenizer, output folder).' },
} as const satisfies Record<string, { readonly status: number; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

type CodeAnswering<Status extends number> = { [K in ErrorCode]: (typeof ERROR_CODES)[K]['status'] extends Status ? K : never }[ErrorCode];
export type UserErrorCode = CodeAnswering<400 | 401 | 404 | 409 | 413 | 415 | 422 | 429>;
export type BackendErrorCode = CodeAnswering<500 | 502 | 503 | 504>;

export const isErrorCode = (value: unknown): value is ErrorCode => typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/**
 * An error the caller caused (bad file, unknown name, impossible size). The CLI prints its message as one
 * line and exits non-zero; the HTTP layer answers with its code's status. Anything else is a bug and keeps
 * its stack.
 */
export class UserError extends Error {
  override readonly name: string = 'UserError';
  readonly status: number;

  constructor(message: string, readonly code: UserErrorCode) {
    super(message);
    this.status = statusOf(code);
  }
}

/** A backend (an A1111 instance, a model, the job store) failed: it answered badly, is unreachable or busy, or is too slow. */
export class BackendError extends Error {
  override readonly name: string = 'BackendError';
  readonly status: number;

  constructor(message: string, readonly code: BackendErrorCode) {
    super(message);
    this.status = statusOf(code);
  }
}

/** Whether a thrown error is one of the service's own (a user or backend error), not a bug. */
export const isServiceError = (error: unknown): error is UserError | BackendError => error instanceof UserError || error instanceof BackendError;

/** The error a code stands for, as the class its status belongs to (a stored job error, thrown again). */
export function errorFor(code: ErrorCode, message: string): UserError | BackendError {
  return statusOf(code) >= 500 ? new BackendError(message, code as BackendErrorCode) : new UserError(message, code as UserErrorCode);
}

/** "unknown method 'foo' (allowed: a, b, c)": the shape every lookup failure takes. */
export function unknownName(field: string, value: string, allowed: readonly string[], code: UserErrorCode): UserError {
  return new UserError(`unknown ${field} '${value}' (allowed: ${allowed.join(', ')})`, code);
}
