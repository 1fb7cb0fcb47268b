import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners, type Message, type PartitionMetadata } from 'kafkajs';
import { packBatch, unpackBatch } from '../../../../producers/kis/packed-batch.js';
import { PartitionRouter } from '../../../../producers/kis/partition-router.js';

test('a produce request survives packing for the worker thread: keys, values, nulls, timestamps, partitions, headers', () => {
  const topicMessages = [
    { topic: 'ticks', messages: [
      { key: '005930', value: Buffer.from([0, 0, 0, 0, 7, 1, 2, 3]), timestamp: '1700000000000', partition: 4 },
      { key: '000660', value: Buffer.from('x'), partition: 1 },
      { key: null, value: null },
    ] },
    { topic: 'raw', messages: [{ key: 'H0STCNT0', value: '0|H0STCNT0|001|체결^-1', headers: { 'kmarket.kis.received-micros': '1700000000000123', b: Buffer.from('bee') } }] },
  ];
  const { batch, transfer } = packBatch(topicMessages);
  assert.ok(transfer.includes(batch.data));
  const back = unpackBatch(structuredClone(batch));
  assert.deepEqual(back.map((t) => t.topic), ['ticks', 'raw']);
  const [ticks, raw] = back as [typeof back[0], typeof back[0]];
  assert.deepEqual(ticks.messages.map((m) => [m.key, m.value === null ? null : [...(m.value as Buffer)], m.timestamp, m.partition]), [
    ['005930', [0, 0, 0, 0, 7, 1, 2, 3], '1700000000000', 4],
    ['000660', [120], undefined, 1],
    [null, null, undefined, undefined],
  ]);
  assert.equal(String(raw.messages[0]?.value), '0|H0STCNT0|001|체결^-1');
  assert.deepEqual(raw.messages[0]?.headers, { 'kmarket.kis.received-micros': '1700000000000123', b: 'bee' });
});

test("the router puts every key where kafkajs's default partitioner would, and a partition on one lane only", () => {
  const partitions = 6;
  const router = new PartitionRouter(new Map([['ticks', partitions]]), 2);
  const kafkajs = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 })) as PartitionMetadata[];
  const laneOf = new Map<number, number>();
  for (let i = 0; i < 2_000; i++) {
    const key = String(i * 37).padStart(6, '0');
    const message: Message = { key, value: null };
    const lane = router.route('ticks', message);
    assert.equal(message.partition, kafkajs({ topic: 'ticks', partitionMetadata, message: { key, value: null } }), key);
    const p = message.partition as number;
    assert.equal(laneOf.get(p) ?? lane, lane, `partition ${p} on two lanes`);
    laneOf.set(p, lane);
  }
  assert.equal(laneOf.size, partitions);
  assert.deepEqual(new Set(laneOf.values()), new Set([0, 1]));
});
