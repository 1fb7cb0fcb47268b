import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logLevel } from 'kafkajs';
import { kafkajsLogLevel } from '../../../lib/kafka.js';

test('conditions kafkajs retries by itself log at debug; the rest keep their level', () => {
  for (const [message, error] of [
    ['Response GroupCoordinator(key: 10, version: 2)', 'The coordinator is not available'],
    ['[Connection] Response AddOffsetsToTxn', 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'],
    ['Response Heartbeat', 'The group is rebalancing, so a rejoin is needed'],
    ['Response OffsetCommit', 'This is not the correct coordinator for this group'],
    ['Failed to connect to broker, reconnecting', undefined],
    ['Connection error: connect ECONNREFUSED 127.0.0.1:9092', undefined],
    ['Crash: KafkaJSNumberOfRetriesExceeded: Connection timeout', undefined],
  ] as const) {
    assert.equal(kafkajsLogLevel(logLevel.ERROR, message, error), 'debug', `${message} ${error ?? ''}`);
  }
  assert.equal(kafkajsLogLevel(logLevel.ERROR, 'Response Produce', 'Topic authorization failed'), 'error');
  assert.equal(kafkajsLogLevel(logLevel.WARN, 'KafkaJS v2.0.0 switched default partitioner', undefined), 'warn');
  assert.equal(kafkajsLogLevel(logLevel.INFO, 'Consumer has joined the group', undefined), 'info');
});
