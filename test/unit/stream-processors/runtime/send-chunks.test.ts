import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from 'kafkajs';
import { MAX_SEND_BYTES, sendChunks } from '../../../../stream-processors/runtime/send-chunks.js';

const record = (i: number, valueBytes: number, partition = i % 3): Message => ({ key: `k${i}`, value: Buffer.alloc(valueBytes, i % 251), partition });
const size = (m: Message) => Buffer.byteLength(m.key as string) + (m.value as Buffer).length + Object.entries(m.headers ?? {}).reduce((s, [k, v]) => s + k.length + String(v).length, 0);

test('a transaction of ≈ 10 MiB of outputs (a catch-up batch of the 1 s indicators) goes out in sends under the limit, every record once, each partition in order', () => {
  const out = new Map<string, Message[]>([
    ['indicators', Array.from({ length: 40_000 }, (_, i) => record(i, 250))],
    ['changelog', Array.from({ length: 300 }, (_, i) => record(i, 600))],
  ]);
  const chunks = sendChunks(out);
  assert.ok(chunks.length >= 20, `${chunks.length} sends`);
  for (const c of chunks) {
    const bytes = c.flatMap((t) => t.messages).reduce((s, m) => s + size(m), 0);
    assert.ok(bytes <= MAX_SEND_BYTES, `a send of ${bytes} bytes`);
  }
  for (const [topic, messages] of out) {
    const sent = chunks.flatMap((c) => c.filter((t) => t.topic === topic).flatMap((t) => t.messages));
    assert.equal(sent.length, messages.length, `${topic}: every record once`);
    for (const p of [0, 1, 2]) assert.deepEqual(sent.filter((m) => m.partition === p), messages.filter((m) => m.partition === p), `${topic} partition ${p} in order`);
  }
});

test('small outputs stay one send; a record larger than the limit goes alone; headers count', () => {
  const small = new Map([['a', [record(1, 10)]], ['b', [record(2, 10), record(3, 10)]]]);
  assert.deepEqual(sendChunks(small), [[{ topic: 'a', messages: [record(1, 10)] }, { topic: 'b', messages: [record(2, 10), record(3, 10)] }]]);
  assert.deepEqual(sendChunks(new Map()), []);

  const big = record(9, 2000);
  const chunks = sendChunks(new Map([['t', [record(1, 100), big, record(2, 100)]]]), 1000);
  assert.deepEqual(chunks.map((c) => c.flatMap((t) => t.messages)), [[record(1, 100)], [big], [record(2, 100)]]);

  const withHeaders = (i: number): Message => ({ ...record(i, 10), headers: { source: 'x'.repeat(400) } });
  assert.equal(sendChunks(new Map([['t', [withHeaders(1), withHeaders(2)]]]), 800).length, 2, 'headers make two records too big for one send');
});
