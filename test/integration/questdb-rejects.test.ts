import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AvroSerde } from '../../lib/serde.js';
import { topicCatalogue } from '../../lib/topics.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Tick } from '../../schemas/generated/types.js';
import { questdbExec } from '../../sinks/questdb/questdb-http.js';
import { createTableSql, TABLES } from '../../sinks/questdb/tables.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { metricValue } from '../helpers/metrics.js';
import { sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

const T0 = yesterdayAt('04:00').getTime() * 1000;
const COUNT = 60;
const TOO_BIG = new Set([0, 21, 22, 40, COUNT - 1]); // quantities QuestDB refuses for an INT column
const tick = (i: number): Tick => ({
  symbol: ['005930', '000660', '035420'][i % 3] as string, exchangeTime: T0 + i * 10_000, ingestTime: T0 + i * 10_000 + 500, price: 61_000 + i, quantity: TOO_BIG.has(i) ? 5_000_000_000 : 10 + i,
  side: 'BUY', cumulativeVolume: 1000 + i, cumulativeValue: 61_000_000 + i, sequence: i + 1, source: 'SIMULATOR', sessionCode: '20', halted: false, venue: 'KRX', marketSession: 'REGULAR',
});

test('rows QuestDB refuses go to the dead-letter topic with its reason; every row around them is written, and the offsets move on', async () => {
  const { common, ns, ticksTopic } = sliceEnv('rejects');
  // The table already exists with a narrower column than the sink's (a type clash for large quantities).
  const table = `${ns.tablePrefix}ticks`;
  const ddl = createTableSql(TABLES.find((t) => t.table === 'ticks') as never, table);
  assert.match(ddl, /quantity LONG/);
  await questdbExec(stackEnv().QUESTDB_HTTP_URL, ddl.replace('quantity LONG', 'quantity INT'));

  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: ticksTopic, numPartitions: 1 }], waitForLeaders: true });
  // Every broker's metadata knows the new partition before the first send.
  await waitFor('the topic in the metadata', async () => ((await admin.fetchTopicMetadata({ topics: [ticksTopic] })).topics[0]?.partitions[0]?.leader ?? -1) >= 0 ? true : undefined);
  await admin.disconnect();
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<Tick>(ticksTopic, TickSchema);
  const values = Array.from({ length: COUNT }, (_, i) => writer.encode(tick(i)));
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic: ticksTopic, messages: values.map((value, i) => ({ key: tick(i).symbol, value })) });
  await producer.disconnect();

  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1' });
  running.push(sink);
  await sink.waitForLog(/QuestDB sink running/); // it creates its dead-letter topic at start-up

  const dead = await readTopic(topicCatalogue(ns.topicNamespace).dlq('questdb-sink').name, { count: TOO_BIG.size });
  assert.deepEqual(dead.map((d) => Number(d.headers?.['kmarket.dlq.source.offset']?.toString())), [...TOO_BIG], 'exactly the refused rows, in order');
  for (const d of dead) {
    const offset = Number(d.headers?.['kmarket.dlq.source.offset']?.toString());
    assert.deepEqual(d.value, values[offset], 'the record byte for byte');
    assert.equal(d.headers?.['kmarket.dlq.error.code']?.toString(), 'SINK_ROW_REJECTED');
    assert.match(d.headers?.['kmarket.dlq.error.message']?.toString() ?? '', /column: quantity.*5000000000 is out bounds of column type: INT/, 'QuestDB\'s own reason');
    assert.equal(d.headers?.['kmarket.dlq.source.topic']?.toString(), ticksTopic);
  }

  const good = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !TOO_BIG.has(i));
  await waitForGroupCaughtUp(common['SINK_GROUP_ID'] as string, ticksTopic);
  const rows = await waitFor('the good rows visible', async () => {
    const r = await questdbQuery(`select seq, quantity from "${table}" order by seq`);
    return r.length === good.length ? r : undefined;
  });
  assert.deepEqual(rows, good.map((i) => ({ seq: i + 1, quantity: 10 + i })));
  assert.equal(await metricValue(sink, 'sink_rows_rejected_total'), TOO_BIG.size);
  assert.equal(await metricValue(sink, 'sink_rows_written_total', { table }), good.length);
  assert.equal(await metricValue(sink, 'sink_flush_failures_total'), 0, 'a refused row is not an outage: no rewind');
  assert.equal(sink.child.exitCode, null);
  const health = await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`);
  assert.equal(health.status, 200);
});
