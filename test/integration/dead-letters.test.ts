import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AvroSerde } from '../../lib/serde.js';
import { topicCatalogue } from '../../lib/topics.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Tick } from '../../schemas/generated/types.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { sliceEnv, stopAll } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

const T0 = yesterdayAt('03:00').getTime() * 1000;
const tick = (i: number): Tick => ({
  symbol: '005930', exchangeTime: T0 + i * 100_000, ingestTime: T0 + i * 100_000 + 500, price: 61_000 + (i % 5) * 100, quantity: 10 + i,
  side: i % 2 ? 'BUY' : 'SELL', cumulativeVolume: 1000 + i, cumulativeValue: 61_000_000 + i, sequence: i + 1, source: 'SIMULATOR', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR',
});

test('malformed and invalid records land in the dead-letter topics byte for byte; the good ones around them get through', async () => {
  const { common, ns, ticksTopic } = sliceEnv('dlq');
  const topics = topicCatalogue(ns.topicNamespace, 3);
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: ticksTopic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<Tick>(ticksTopic, TickSchema);
  const garbage = Buffer.from('{"not":"avro"}');
  const invalid = writer.encode({ ...tick(5), price: 0 }); // decodes fine, breaks an invariant
  // A time of day given the next day's date: were it processed, its candle would close every window.
  const dayAhead = writer.encode({ ...tick(6), exchangeTime: tick(6).ingestTime + 86_400_000_000 });
  const values = [writer.encode(tick(0)), writer.encode(tick(1)), garbage, writer.encode(tick(2)), invalid, writer.encode(tick(3)), dayAhead, writer.encode(tick(4))];
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic: ticksTopic, messages: values.map((value) => ({ key: '005930', value })) });
  await producer.disconnect();

  const processor = startService('stream-processors/candles/main.js', common);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1,market.candles.1s.v1' });
  running.push(processor, sink);
  // They create their dead-letter topics at start-up (topic auto-creation is off on our broker).
  await processor.waitForLog(/candle processor running/);
  await sink.waitForLog(/QuestDB sink running/);

  for (const stage of ['candles', 'questdb-sink']) {
    const dead = await readTopic(topics.dlq(stage).name, { count: 3 });
    assert.equal(dead.length, 3, stage);
    assert.deepEqual(dead[0]?.value, garbage, `${stage}: the raw bytes are kept`);
    assert.equal(dead[0]?.headers?.['kmarket.dlq.error.code']?.toString(), 'DECODE_FAILED');
    assert.equal(dead[0]?.headers?.['kmarket.dlq.source.offset']?.toString(), '2');
    assert.equal(dead[0]?.headers?.['kmarket.dlq.source.topic']?.toString(), ticksTopic);
    assert.deepEqual(dead[1]?.value, invalid);
    assert.equal(dead[1]?.headers?.['kmarket.dlq.error.code']?.toString(), 'VALIDATION_FAILED');
    assert.match(dead[1]?.headers?.['kmarket.dlq.error.message']?.toString() ?? '', /price 0 must be positive/);
    assert.deepEqual(dead[2]?.value, dayAhead);
    assert.match(dead[2]?.headers?.['kmarket.dlq.error.message']?.toString() ?? '', /86400 s after its ingestTime/);
  }

  // The five good ticks (0.0 s .. 0.4 s) make one candle; the processor and the sink kept running.
  const row = await waitFor('the good ticks as a final candle', async () => {
    const rows = await questdbQuery(`select open, high, low, close, volume, trade_count from "${ns.tablePrefix}candles_1s" where is_final`);
    return rows.length === 1 ? rows[0] : undefined;
  }, { timeoutMs: 60_000 });
  const good = [0, 1, 2, 3, 4].map(tick);
  assert.deepEqual(row, {
    open: good[0]?.price, close: good[4]?.price, high: Math.max(...good.map((t) => t.price)), low: Math.min(...good.map((t) => t.price)),
    volume: good.reduce((s, t) => s + t.quantity, 0), trade_count: 5,
  });
  const [ticks] = await questdbQuery(`select count() n from "${ns.tablePrefix}ticks"`);
  assert.equal(ticks?.['n'], 5);
  assert.equal(processor.child.exitCode, null);
  assert.equal(sink.child.exitCode, null);

  const metrics = await fetch(`http://127.0.0.1:${await sink.metricsPort()}/metrics`).then((r) => r.text());
  assert.match(metrics, /kmarket_dead_letters_total\{stage="questdb-sink",code="DECODE_FAILED",service="questdb-sink"\} 1/);
});
