import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { ProducerBatch } from 'kafkajs';
import { Registry } from 'prom-client';
import { createLogger } from '../../../../lib/logger.js';
import { createKisMetrics } from '../../../../producers/kis/metrics.js';
import { KafkaOutput } from '../../../../producers/kis/output.js';

const quiet = createLogger('test', { destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function fakeProducer(delayMs: number, fail = false) {
  const batches: ProducerBatch[] = [];
  return {
    batches,
    sendBatch: async (batch: ProducerBatch) => {
      await new Promise((r) => setTimeout(r, delayMs));
      if (fail) throw new Error('broker gone');
      batches.push(batch);
      return [];
    },
  };
}

test('one request at a time, under the byte and message limits, in arrival order across topics; latency observed per frame', async () => {
  const registry = new Registry();
  const metrics = createKisMetrics(registry);
  const producer = fakeProducer(5);
  const pressure: boolean[] = [];
  const out = new KafkaOutput([producer as never], { maxBatchBytes: 50_000, maxBatchMessages: 40, lingerMs: 1, highWater: 300 }, metrics, quiet, {
    onPressure: (p) => pressure.push(p),
    onFatal: () => assert.fail('no failure expected'),
  });
  const value = Buffer.alloc(1_000, 1);
  for (let frame = 0; frame < 100; frame++) {
    out.push('raw', { key: 'H0STCNT0', value });
    for (let i = 0; i < 4; i++) out.push('ticks', { key: `s${i}`, value: Buffer.from(String(frame * 4 + i)) });
    out.frameDone(Date.now());
  }
  await out.flush();
  assert.ok(producer.batches.length > 1);
  for (const b of producer.batches) {
    const bytes = b.topicMessages?.reduce((n, t) => n + t.messages.reduce((m, msg) => m + (msg.value as Buffer).length, 0), 0) ?? 0;
    assert.ok(bytes <= 50_000, `batch of ${bytes} bytes`);
    assert.ok((b.topicMessages?.reduce((n, t) => n + t.messages.length, 0) ?? 0) <= 40, 'at most 40 messages');
  }
  const ticks = producer.batches.flatMap((b) => b.topicMessages?.filter((t) => t.topic === 'ticks').flatMap((t) => t.messages.map((m) => Number(String(m.value)))) ?? []);
  assert.deepEqual(ticks, Array.from({ length: 400 }, (_, i) => i));
  assert.deepEqual(pressure, [true, false], 'paused above the high-water mark, resumed once drained');
  const latency = await registry.getSingleMetric('kis_produce_latency_seconds')?.get();
  assert.equal((latency?.values as Array<{ metricName?: string; value: number }> | undefined)?.find((v) => v.metricName === 'kis_produce_latency_seconds_count')?.value, 100);
  const produced = await registry.getSingleMetric('kis_messages_produced_total')?.get();
  assert.deepEqual(produced?.values.map((v) => [v.labels['topic'], v.value]).sort(), [['raw', 100], ['ticks', 400]]);
});

test('a failed produce request stops the output and reports the error', async () => {
  const metrics = createKisMetrics(new Registry());
  const errors: unknown[] = [];
  const out = new KafkaOutput([fakeProducer(1, true) as never], { maxBatchBytes: 50_000, maxBatchMessages: 1000, lingerMs: 1, highWater: 1000 }, metrics, quiet, {
    onPressure: () => undefined,
    onFatal: (err) => errors.push(err),
  });
  out.push('ticks', { key: 'a', value: Buffer.from('1') });
  out.frameDone(Date.now());
  await out.flush();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /broker gone/);
});

test('with retryMaxMs a failed request is sent again, the very same request, until Kafka takes it; nothing is reported fatal', async () => {
  const metrics = createKisMetrics(new Registry());
  const requests: ProducerBatch[] = [];
  let failures = 3;
  const producer = {
    sendBatch: async (batch: ProducerBatch) => {
      requests.push(batch);
      if (failures-- > 0) throw new Error('broker gone');
      return [];
    },
  };
  const out = new KafkaOutput([producer as never], { maxBatchBytes: 50_000, maxBatchMessages: 1000, lingerMs: 1, highWater: 1000, retryMaxMs: 1 }, metrics, quiet, {
    onPressure: () => undefined,
    onFatal: () => assert.fail('a retried failure is not fatal'),
  });
  out.push('ticks', { key: 'a', value: Buffer.from('1') });
  out.frameDone(Date.now());
  await out.flush();
  assert.equal(requests.length, 4);
  for (const r of requests) assert.equal(r.topicMessages, requests[0]?.topicMessages, 'the same request each time');
  assert.equal(out.pendingCount, 0);
});

test('several lanes: each partition stays on one lane and in order; a frame counts once all lanes acknowledged it', async () => {
  const registry = new Registry();
  const metrics = createKisMetrics(registry);
  const slow = fakeProducer(15);
  const fast = fakeProducer(1);
  const out = new KafkaOutput([slow, fast], { maxBatchBytes: 2_000, maxBatchMessages: 1000, lingerMs: 1, highWater: 10_000 }, metrics, quiet, {
    onPressure: () => undefined,
    onFatal: () => assert.fail('no failure expected'),
  }, (_topic, message) => {
    message.partition = Number(message.key) % 4;
    return message.partition % 2;
  });
  for (let frame = 0; frame < 50; frame++) {
    for (let i = 0; i < 8; i++) out.push('ticks', { key: String(i), value: Buffer.from(String(frame)) });
    out.frameDone(Date.now());
  }
  await out.flush();
  const sent = (p: typeof slow) => p.batches.flatMap((b) => b.topicMessages?.flatMap((t) => t.messages) ?? []);
  for (const [lane, p] of [[0, slow], [1, fast]] as const) {
    const messages = sent(p);
    assert.equal(messages.length, 200);
    assert.ok(messages.every((m) => (m.partition as number) % 2 === lane));
    for (let partition = lane; partition < 4; partition += 2) {
      const frames = messages.filter((m) => m.partition === partition).map((m) => Number(String(m.value)));
      assert.deepEqual(frames, frames.slice().sort((a, b) => a - b), `partition ${partition} in order`);
      assert.equal(frames.length, 100);
    }
  }
  const latency = await registry.getSingleMetric('kis_produce_latency_seconds')?.get();
  assert.equal((latency?.values as Array<{ metricName?: string; value: number }> | undefined)?.find((v) => v.metricName === 'kis_produce_latency_seconds_count')?.value, 50);
});

test('a pipelined lane (worker thread) gets the frames of each callback at once, behind requests still out, and settles them in order', async () => {
  const registry = new Registry();
  const metrics = createKisMetrics(registry);
  const requests: Array<{ values: string[]; done: boolean }> = [];
  // Completes requests strictly in order, each 5 ms after the previous one, like the worker's producer.
  let queue = Promise.resolve();
  const sender = {
    pipelined: true,
    sendBatch: (batch: ProducerBatch) => {
      const request = { values: batch.topicMessages?.flatMap((t) => t.messages.map((m) => String(m.value))) ?? [], done: false };
      requests.push(request);
      queue = queue.then(() => new Promise<void>((r) => setTimeout(r, 5))).then(() => void (request.done = true));
      return queue.then(() => []);
    },
  };
  const settled: number[] = [];
  const out = new KafkaOutput([sender], { maxBatchBytes: 50_000, maxBatchMessages: 1000, lingerMs: 50, highWater: 1_000 }, metrics, quiet, {
    onPressure: () => undefined,
    onFatal: () => assert.fail('no failure expected'),
    onFramesSettled: (n) => settled.push(n),
  });
  // Each "callback" reads two frames; the lane gets them together once the callback is done.
  for (let callback = 0; callback < 5; callback++) {
    for (const frame of [2 * callback, 2 * callback + 1]) {
      out.push('ticks', { key: 'a', value: Buffer.from(`${frame}a`) });
      out.push('raw', { key: 'H0STCNT0', value: Buffer.from(`${frame}r`) });
      out.frameDone(Date.now());
    }
    assert.equal(requests.length, callback, 'not within the callback');
    await Promise.resolve();
    assert.equal(requests.length, callback + 1, 'handed over when the callback is done, without a linger or waiting for the previous request');
  }
  assert.equal(requests.filter((r) => r.done).length, 0);
  assert.equal(out.pendingCount, 20);
  await out.flush();
  assert.deepEqual(requests.map((r) => r.values.sort()), Array.from({ length: 5 }, (_, c) => [`${2 * c}a`, `${2 * c}r`, `${2 * c + 1}a`, `${2 * c + 1}r`]));
  assert.equal(out.pendingCount, 0);
  assert.equal(settled.reduce((a, b) => a + b, 0), 10, 'every frame settled once');
  const produced = await registry.getSingleMetric('kis_messages_produced_total')?.get();
  assert.deepEqual(produced?.values.map((v) => [v.labels['topic'], v.value]).sort(), [['raw', 10], ['ticks', 10]]);
});

test('a pipelined lane that fails reports once and takes nothing more', async () => {
  const errors: unknown[] = [];
  let calls = 0;
  const sender = {
    pipelined: true,
    sendBatch: async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('worker: broker gone');
    },
  };
  const out = new KafkaOutput([sender], { maxBatchBytes: 50_000, maxBatchMessages: 1000, lingerMs: 1, highWater: 1_000 }, createKisMetrics(new Registry()), quiet, {
    onPressure: () => undefined,
    onFatal: (err) => errors.push(err),
  });
  out.push('ticks', { key: 'a', value: Buffer.from('1') });
  out.frameDone(Date.now());
  await Promise.resolve();
  out.push('ticks', { key: 'a', value: Buffer.from('2') });
  out.frameDone(Date.now());
  await Promise.resolve();
  await out.flush();
  out.push('ticks', { key: 'a', value: Buffer.from('3') });
  out.frameDone(Date.now());
  await out.flush();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /broker gone/);
  assert.equal(calls, 2, 'nothing handed over after the failure');
});
