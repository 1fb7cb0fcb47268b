/**
 * One error type for the whole project. Callers branch on `code`, never on message text.
 * Unknown errors are treated as not retryable: retrying something we do not understand hides bugs.
 */
export const ErrorCodes = [
  'CONFIG_INVALID',
  'DECODE_FAILED',
  'ENCODE_FAILED',
  'VALIDATION_FAILED',
  'SCHEMA_REGISTRY_UNAVAILABLE',
  'SCHEMA_INCOMPATIBLE',
  'KAFKA_UNAVAILABLE',
  /** Kafka answered a request with an error (a busy or moved coordinator, a fenced producer, a leader election): a new session can help. */
  'KAFKA_REQUEST_REFUSED',
  'SINK_WRITE_FAILED',
  'SINK_ROW_REJECTED',
  /** An upstream source (KRX) did not answer, answered 5xx or timed out: a retry can help. */
  'SOURCE_UNAVAILABLE',
  /** An upstream source refused our credentials or session (login failed, LOGOUT after a re-login, 401). */
  'SOURCE_AUTH_FAILED',
  /** An upstream source answered a body we cannot read (HTML error page, truncated JSON, changed fields). */
  'SOURCE_BAD_RESPONSE',
  /** A call budget (e.g. the KRX Open API's calls per day) is spent. */
  'BUDGET_EXHAUSTED',
  'LATE_EVENT',
  /** The broker refuses a record we produce for what it is (too large, stamped too far ahead): a retry cannot help. */
  'OUTPUT_REFUSED',
  /** An upstream feed refused the credentials at run time (e.g. KIS invalid approval for a fresh key). */
  'KIS_AUTH_REJECTED',
  /** KIS still holds the app key's session slot (after a drop, or another process uses the key). */
  'KIS_SLOT_HELD',
  /** The KIS endpoints cannot be reached or answer with server errors; retrying later can help. */
  'KIS_UPSTREAM_UNAVAILABLE',
  'SHUTDOWN',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export interface AppErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** Small, loggable facts about where the error happened (never secrets, never whole payloads). */
  context?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
  }
}

export function isAppError(err: unknown, code?: ErrorCode): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into an AppError, keeping the original as `cause`. */
export function toAppError(err: unknown, fallback: ErrorCode = 'INTERNAL', context?: Record<string, unknown>): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError(fallback, message, { cause: err, retryable: false, ...(context ? { context } : {}) });
}
