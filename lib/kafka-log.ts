import { createRequire } from 'node:module';
import { logLevel, type LogEntry } from 'kafkajs';

export type LogLevelName = 'error' | 'warn' | 'info' | 'debug';

const LEVELS: Record<number, LogLevelName> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// kafkajs's protocol error table is the authority on which broker answers a client should retry.
// CONCURRENT_TRANSACTIONS is marked not retriable there, but the broker expects a retry and kafkajs
// retries it (after every transaction commit the coordinator answers it for a few milliseconds).
const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as {
  errorCodes: Array<{ type: string; retriable: boolean; message: string }>;
};
// The group answers are marked not retriable too, but a consumer meets them in every rebalance (a
// member that lost its session, a group re-forming, a stale generation) and kafkajs re-joins the group.
const REJOIN_ANSWERS = new Set(['CONCURRENT_TRANSACTIONS', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION']);
const RETRIABLE_BROKER_ANSWERS = new Set(errorCodes.filter((e) => e.retriable || REJOIN_ANSWERS.has(e.type)).map((e) => e.message));

/** kafkajs lines (at its ERROR level) that describe a broker being away or moving, which kafkajs retries. */
const TRANSIENT_LINES = [
  /^Connection error: /,
  /^Connection timeout$/,
  /^Closed connection$/,
  /^Request .* timed out$/,
  /\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH)\b/,
  /^Failed to connect to seed broker/,
  /^Failed to connect to broker, reconnecting$/,
  /^Restarting the consumer in \d+ms$/,
  /^The coordinator is not aware of this member(, re-joining the group)?$/,
  // Services starting together create the same topics: kafkajs logs the broker's TOPIC_ALREADY_EXISTS
  // answers under this name and then treats them as success. Any other creation error fails
  // ensureTopics, and the service logs that itself.
  /^Topic creation errors$/,
];
const TRANSIENT_ERROR_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError']);

function isTransientText(text: string): boolean {
  // "Crash: <error name>: <message>" and "Failed to send messages: <message>" wrap the real cause.
  const crash = /^Crash: (\w+): (.*)$/s.exec(text);
  if (crash) return TRANSIENT_ERROR_NAMES.has(crash[1] as string) || isTransientText(crash[2] as string);
  const unwrapped = text.replace(/^Failed to send messages: /, '');
  return RETRIABLE_BROKER_ANSWERS.has(unwrapped) || TRANSIENT_LINES.some((re) => re.test(unwrapped));
}

function isTransient(message: string, error: unknown): boolean {
  return (typeof error === 'string' && isTransientText(error)) || isTransientText(message);
}

/**
 * Decides the level of one kafkajs log line. kafkajs logs every failed attempt of something it will
 * retry at ERROR, so a normal start (the group coordinator is loading) or a ten-second broker blip
 * filled the logs with error lines nobody needs to act on. Those become one warning per kind of
 * line per `quietMs` (the first of an incident; repeats inside the window go to debug). Error stays
 * for what kafkajs does not retry; a service that then gives up logs its own fatal line.
 */
export class KafkaLogLevels {
  private readonly lastWarned = new Map<string, number>();

  constructor(private readonly quietMs = 60_000, private readonly now: () => number = Date.now) {}

  levelOf(entry: Pick<LogEntry, 'level' | 'namespace' | 'log'>): LogLevelName {
    const level = LEVELS[entry.level] ?? 'info';
    if (level !== 'error' || !isTransient(entry.log.message, entry.log['error'])) return level;
    const kind = `${entry.namespace}|${String(entry.log['error'] ?? entry.log.message)}`;
    const t = this.now();
    const last = this.lastWarned.get(kind);
    if (last !== undefined && t - last < this.quietMs) return 'debug';
    this.lastWarned.set(kind, t);
    return 'warn';
  }
}
