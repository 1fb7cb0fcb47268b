import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { logLevel } from 'kafkajs';
import { createKafka } from '../../../lib/kafka.js';
import { KafkaLogLevels } from '../../../lib/kafka-log.js';
import { createLogger } from '../../../lib/logger.js';

const line = (level: logLevel, namespace: string, message: string, extra: Record<string, unknown> = {}) => ({
  level,
  namespace,
  log: { timestamp: '', logger: 'kafkajs', message, ...extra },
});

// The lines below are kafkajs 2.2.4's own wording, as a normal start and a broker restart write them.
test('retried broker answers and a broker being away become one warning, not an error per attempt', () => {
  let now = 0;
  const levels = new KafkaLogLevels(60_000, () => now);
  const coordinator = line(logLevel.ERROR, 'Connection', 'Response GroupCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available', correlationId: 1 });
  assert.equal(levels.levelOf(coordinator), 'warn');
  assert.equal(levels.levelOf({ ...coordinator, log: { ...coordinator.log, correlationId: 2 } }), 'debug', 'the same condition again within the quiet window');
  now = 61_000;
  assert.equal(levels.levelOf(coordinator), 'warn', 'a new incident warns again');

  for (const transient of [
    line(logLevel.ERROR, 'Connection', 'Response AddOffsetsToTxn(key: 25, version: 1)', { error: 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing' }),
    line(logLevel.ERROR, 'Connection', 'Response FindCoordinator(key: 10, version: 2)', { error: 'This is not the correct coordinator for this group' }),
    line(logLevel.ERROR, 'Connection', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092' }),
    line(logLevel.ERROR, 'BrokerPool', 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:9092'),
    line(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED 127.0.0.1:9092', { groupId: 'g' }),
    line(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSConnectionClosedError: Closed connection', { groupId: 'g' }),
    line(logLevel.ERROR, 'Consumer', 'Restarting the consumer in 300ms', { groupId: 'g' }),
    line(logLevel.ERROR, 'Producer', 'Failed to send messages: This server is not the leader for that topic-partition'),
    line(logLevel.ERROR, 'Connection', 'Response CreateTopics(key: 19, version: 3)', { error: 'Topic creation errors', correlationId: 4 }),
    // A rebalance: the member lost its session or the group re-forms; kafkajs re-joins.
    line(logLevel.ERROR, 'Connection', 'Response Heartbeat(key: 12, version: 3)', { error: 'The coordinator is not aware of this member', correlationId: 5 }),
    line(logLevel.ERROR, 'Connection', 'Response OffsetCommit(key: 8, version: 5)', { error: 'The group is rebalancing, so a rejoin is needed', correlationId: 6 }),
    line(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSProtocolError: The coordinator is not aware of this member', { groupId: 'g' }),
  ]) {
    assert.equal(new KafkaLogLevels().levelOf(transient), 'warn', transient.log.message);
  }
});

test('what kafkajs does not retry stays an error, and other levels keep theirs', () => {
  const levels = new KafkaLogLevels();
  for (const needsAPerson of [
    line(logLevel.ERROR, 'Connection', 'Response Produce(key: 0, version: 7)', { error: 'The request included message batch larger than the configured segment size on the server' }),
    line(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSNumberOfRetriesExceeded: Cannot read properties of undefined', { groupId: 'g' }),
    line(logLevel.ERROR, 'Consumer', 'Crash: KafkaJSProtocolError: Not authorized to access group', { groupId: 'g' }),
    line(logLevel.ERROR, 'ConsumerGroup', 'Offset out of range, resetting to default offset'),
  ]) {
    assert.equal(levels.levelOf(needsAPerson), 'error', needsAPerson.log.message);
    assert.equal(levels.levelOf(needsAPerson), 'error', 'never rate limited');
  }
  assert.equal(levels.levelOf(line(logLevel.WARN, 'Runner', 'The group is rebalancing, re-joining')), 'warn');
  assert.equal(levels.levelOf(line(logLevel.INFO, 'Consumer', 'Starting')), 'info');
});

test("LOG_LEVEL=debug also turns on kafkajs's own debug lines; any other level keeps kafkajs at WARN", async () => {
  const logged = async (level: string) => {
    let out = '';
    const sink = new Writable({ write(chunk, _enc, cb) { out += chunk.toString(); cb(); } });
    const kafka = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'c', logger: createLogger('test', { level, destination: sink }) });
    kafka.logger().debug('debug probe');
    kafka.logger().info('info probe');
    kafka.logger().warn('warn probe');
    await new Promise((r) => setImmediate(r));
    return ['debug', 'info', 'warn'].filter((l) => out.includes(`${l} probe`));
  };
  assert.deepEqual(await logged('debug'), ['debug', 'info', 'warn']);
  assert.deepEqual(await logged('info'), ['warn']);
  assert.deepEqual(await logged('warn'), ['warn']);
});
