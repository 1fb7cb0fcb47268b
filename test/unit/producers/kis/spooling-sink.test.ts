import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { Message } from 'kafkajs';
import { Registry } from 'prom-client';
import { createLogger } from '../../../../lib/logger.js';
import { createKisMetrics, type KisMetrics } from '../../../../producers/kis/metrics.js';
import type { MessageSink } from '../../../../producers/kis/output.js';
import { Spool } from '../../../../producers/kis/spool.js';
import { decodeFrame } from '../../../../producers/kis/spool-frame.js';
import { SpoolingSink, type SpoolingSinkOptions } from '../../../../producers/kis/spooling-sink.js';

/** Stands in for KafkaOutput: records what it was handed; the test says when Kafka acknowledges. */
class FakeKafka implements MessageSink {
  readonly handed: string[] = [];
  frames = 0;
  acked = 0;
  push(topic: string, message: Message): void {
    this.handed.push(`${topic}:${String(message.value)}`);
  }
  frameDone(): void {
    this.frames++;
  }
  /** Acknowledges every frame handed over so far. */
  ackAll(sink: SpoolingSink): void {
    const n = this.frames - this.acked;
    this.acked = this.frames;
    if (n > 0) sink.settled(n);
  }
}

const lines: string[] = [];
const logger = createLogger('test', { destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
/** Lets the queued spool write (microtask) and replay (setImmediate) run. */
const turn = () => new Promise((r) => setImmediate(r));

function setup(opts: Partial<SpoolingSinkOptions> & { spoolMaxBytes?: number; dir?: string } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'kis-spooling-'));
  const clock = { now: 1_000_000 };
  const kafka = new FakeKafka();
  const metrics: KisMetrics = createKisMetrics(new Registry());
  const spool = Spool.open({ dir, maxBytes: opts.spoolMaxBytes ?? 1e9, segmentBytes: 4_096 });
  const sink = new SpoolingSink(kafka, spool, { maxBufferBytes: opts.maxBufferBytes ?? 1e6, maxBufferAgeMs: opts.maxBufferAgeMs ?? 2_000, fsyncMs: 1_000 }, metrics, logger, () => clock.now);
  let next = 0;
  /** One frame: a raw message and a tick, numbered in arrival order. */
  const frame = () => {
    const i = next++;
    sink.push('raw', { key: 'H0STCNT0', value: Buffer.from(`r${i}`), headers: { h: String(i) } });
    sink.push('ticks', { key: `s${i % 3}`, value: Buffer.from(`t${i}`), timestamp: String(i) });
    sink.frameDone(clock.now);
  };
  const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => [`raw:r${from + k}`, `ticks:t${from + k}`]).flat();
  return { dir, clock, kafka, metrics, spool, sink, frame, expected };
}

async function value(metrics: KisMetrics, name: keyof KisMetrics): Promise<number> {
  return ((await metrics[name].get()).values[0]?.value as number | undefined) ?? 0;
}

test('Kafka silent past the age limit: health turns 503, held and new frames are spooled, replayed in arrival order, none twice, then direct again', async () => {
  const { kafka, metrics, sink, frame, clock, expected } = setup();
  for (let i = 0; i < 5; i++) frame();
  kafka.ackAll(sink);
  assert.deepEqual(kafka.handed, expected(0, 5), 'direct while Kafka answers');

  for (let i = 0; i < 5; i++) frame(); // 5..9 handed over, never acknowledged
  clock.now += 2_001;
  sink.check();
  assert.equal(sink.kafkaAway, true);
  assert.equal(sink.health()['spooling'], true);
  for (let i = 0; i < 20; i++) frame(); // 10..29 go to the spool only
  await turn();
  await turn();
  sink.pump();
  assert.deepEqual(kafka.handed, expected(0, 10), 'nothing new reaches Kafka while it has not acknowledged');
  assert.ok((await value(metrics, 'spoolBytes')) > 0);

  // Kafka is back: the held frames are acknowledged, then the spool is replayed behind them.
  kafka.ackAll(sink);
  assert.equal(sink.kafkaAway, false);
  await turn();
  // A replayed request that takes long again (a broker still recovering): 503 again, no second warning.
  clock.now += 2_001;
  sink.check();
  assert.equal(sink.kafkaAway, true);
  frame(); // 30 arrives during the replay: behind the spool
  await turn();
  while (kafka.acked < kafka.frames) {
    kafka.ackAll(sink);
    await turn();
  }
  assert.deepEqual(kafka.handed, expected(0, 31), 'every frame once, in arrival order');
  assert.equal(sink.health()['spooling'], false);
  assert.equal(await value(metrics, 'spoolBytes'), 0);
  frame();
  assert.deepEqual(kafka.handed.slice(-2), expected(31, 32), 'direct again');
  assert.equal(lines.filter((l) => l.includes('Kafka has not acknowledged')).length, 1, 'one warning for the incident');
});

test('the byte limit of the buffer starts spooling too; headers, keys and timestamps survive the round trip', async () => {
  const { kafka, sink, spool, frame } = setup({ maxBufferBytes: 1_024 * 1024 });
  sink.push('ticks', { key: 'big', value: Buffer.alloc(1_024 * 1024 - 200), timestamp: '7', headers: { a: 'x', b: ['1', '2'] } });
  sink.frameDone(1);
  frame(); // does not fit beside the big one
  await turn();
  assert.equal(kafka.frames, 1);
  assert.ok(!spool.isEmpty);
  const replayed = spool.read(10, 1e9).map((r) => decodeFrame(r.payload));
  assert.equal(replayed.length, 1);
  assert.deepEqual(replayed[0]?.messages.map(({ topic, message: m }) => [topic, m.key, String(m.value), m.timestamp, m.headers]), [
    ['raw', 'H0STCNT0', 'r0', undefined, { h: '0' }],
    ['ticks', 's0', 't0', '0', undefined],
  ]);
});

test('a full spool drops frames only then: counted, one error line when it starts and one with the count when it ends', async () => {
  const before = lines.length;
  const { kafka, metrics, sink, frame, clock } = setup({ spoolMaxBytes: 2_000 });
  frame();
  clock.now += 2_001;
  sink.check();
  for (let i = 0; i < 100; i++) frame();
  await turn();
  const dropped = await value(metrics, 'droppedMessages');
  assert.ok(dropped > 0 && dropped < 200, `dropped ${dropped} messages`);
  const errors = () => lines.slice(before).filter((l) => l.includes('"level":"error"') || l.includes('"level":50'));
  assert.equal(errors().length, 1);
  while (kafka.acked < kafka.frames) {
    kafka.ackAll(sink);
    await turn();
  }
  assert.equal(sink.health()['spooling'], false);
  assert.equal(errors().length, 2);
  assert.match(errors()[1] as string, new RegExp(`"droppedMessages":${dropped}`));
  assert.equal(kafka.frames, 101 - dropped / 2, 'every frame not dropped reached Kafka');
});

test('a run killed while spooling leaves frames the next run replays first; a shutdown with Kafka away spools what memory held', async () => {
  const a = setup();
  for (let i = 0; i < 3; i++) a.frame(); // held in memory, never acknowledged
  a.clock.now += 2_001;
  a.sink.check(); // spooling: the held frames are written too
  for (let i = 0; i < 3; i++) a.frame();
  await turn();
  // SIGKILL: no close(); the lock names a dead process.
  writeFileSync(join(a.dir, 'LOCK'), '999999999');

  const b = setup({ dir: a.dir });
  assert.equal(b.sink.health()['spooling'], true, 'starts by replaying');
  b.frame(); // a new frame of the new run (numbered 0 again here) goes behind the old ones
  await turn();
  while (b.kafka.acked < b.kafka.frames || b.sink.health()['spooling']) {
    b.kafka.ackAll(b.sink);
    await turn();
  }
  assert.deepEqual(b.kafka.handed, [...a.expected(0, 6), ...b.expected(0, 1)]);

  // Graceful shutdown while Kafka does not answer: what memory held goes to the spool.
  b.frame();
  b.frame();
  await b.sink.close(() => new Promise(() => undefined), 10);
  const c = setup({ dir: a.dir });
  await turn();
  assert.deepEqual(c.kafka.handed, b.expected(1, 3));
});
