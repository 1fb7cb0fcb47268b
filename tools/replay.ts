/**
 * Replays a topic for one consumer group by moving the group's committed offsets, so the next start
 * of that group's service re-reads from there (a backfill). The group must be stopped: Kafka refuses
 * to move the offsets of an active group.
 *
 *   npm run replay -- --group questdb-sink --topic market.ticks.v1 --from 2026-11-20T00:00:00+09:00
 *   npm run replay -- --group questdb-sink --topic market.candles.1s.v1 --from earliest
 *
 * Topic names are catalogue names; TOPIC_NAMESPACE (if set) is prefixed as the services do.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { AppError } from '../lib/errors.js';
import { createKafka, kafkaConfigSpec, untilBrokerAnswers } from '../lib/kafka.js';
import { createLogger } from '../lib/logger.js';

const { values } = parseArgs({
  options: {
    group: { type: 'string' },
    topic: { type: 'string', multiple: true },
    from: { type: 'string', default: 'earliest' },
    'dry-run': { type: 'boolean', default: false },
  },
});

const problems: string[] = [];
if (!values.group) problems.push('--group is required (the consumer group of the service to replay)');
if (!values.topic?.length) problems.push('--topic is required (one or more)');
const from = values.from ?? 'earliest';
const fromMs = from === 'earliest' || from === 'latest' ? null : Date.parse(from);
if (fromMs !== null && !Number.isFinite(fromMs)) problems.push(`--from ${from}: not earliest, latest or an ISO 8601 time`);
if (problems.length > 0) {
  process.stderr.write(`replay: ${problems.join('\n  ')}\n`);
  process.exit(2);
}

const config = loadConfig(kafkaConfigSpec);
const logger = createLogger('replay');
const kafka = createKafka({ brokers: config.brokers, clientId: 'replay', logger });
const admin = kafka.admin();
await admin.connect();
try {
  const groupId = values.group as string;
  const [described] = (await admin.describeGroups([groupId])).groups;
  if (described && described.state !== 'Empty' && described.state !== 'Dead') {
    throw new AppError('CONFIG_INVALID', `group ${groupId} is ${described.state} with ${described.members.length} member(s): stop its service first`);
  }
  for (const base of values.topic as string[]) {
    const topic = `${config.topicNamespace}${base}`;
    let partitions: Array<{ partition: number; offset: string }>;
    if (fromMs === null) {
      const offsets = await untilBrokerAnswers(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
      partitions = offsets.map((o) => ({ partition: o.partition, offset: from === 'earliest' ? o.low : o.high }));
    } else {
      // The first offset whose record timestamp is at or after `from` (records carry the exchange time).
      partitions = (await untilBrokerAnswers(`offsets of ${topic} at ${from}`, () => admin.fetchTopicOffsetsByTimestamp(topic, fromMs))).map((o) => ({ partition: o.partition, offset: o.offset }));
    }
    process.stdout.write(`${topic}: ${partitions.map((p) => `p${p.partition}→${p.offset}`).join(' ')}${values['dry-run'] ? ' (dry run)' : ''}\n`);
    if (!values['dry-run']) await admin.setOffsets({ groupId, topic, partitions });
  }
} finally {
  await admin.disconnect();
}
