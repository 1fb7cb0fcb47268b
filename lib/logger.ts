import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys that must never reach a log line, at any of the first two nesting levels.
 * KIS app keys/secrets and approval keys, KRX passwords and database URLs with passwords.
 */
const SECRET_KEYS = [
  'password', 'passwd', 'pw', 'secret', 'appSecret', 'appsecret', 'secretkey', 'appKey', 'appkey',
  'approvalKey', 'approval_key', 'authorization', 'token', 'accessToken', 'authKey', 'postgresUrl',
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  level?: string;
  /** A writable stream, for tests that assert on what was logged. */
  destination?: NodeJS.WritableStream;
}

/** The root logger of a process: JSON lines, `service` on every line, secrets censored. */
export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env['LOG_LEVEL'] ?? 'info';
  const opts = {
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '<redacted>' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}
