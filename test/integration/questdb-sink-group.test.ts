import assert from 'node:assert/strict';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { after, test } from 'node:test';
import type { OrderBook } from '../../schemas/generated/types.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { metricValue } from '../helpers/metrics.js';
import { readTicks, simulate, sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

test('two sink instances in one group share the partitions, and ticks and order books end exactly as in Kafka', async () => {
  const { common, ns, ticksTopic } = sliceEnv('sinkgroup');
  const env = { ...common, TOPIC_PARTITIONS: '6', SINK_TOPICS: 'market.ticks.v1,market.orderbook.v1' };
  const groupId = common['SINK_GROUP_ID'] as string;
  const sinks = [startService('sinks/questdb/main.js', env), startService('sinks/questdb/main.js', env)];
  running.push(...sinks);
  for (const s of sinks) await s.waitForLog(/QuestDB sink running/);

  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor('both instances holding partitions', async () => {
      const { groups } = await admin.describeGroups([groupId]);
      const members = groups[0]?.members ?? [];
      return groups[0]?.state === 'Stable' && members.length === 2 && members.every((m) => m.memberAssignment.length > 0) ? true : undefined;
    }, { timeoutMs: 120_000 }); // the second member's join is a rebalance: slow on a loaded box
  } finally {
    await admin.disconnect();
  }

  const SYMBOLS = 60;
  const RATE = 500;
  const SECONDS = 12;
  // Recent exchange times: they are the records' Kafka timestamps, and older ones than the topics'
  // retention may be deleted by the broker in the middle of the test.
  const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 600_000).toISOString();
  await simulate(common, { symbols: SYMBOLS, ticksPerSecond: RATE, seconds: SECONDS, start, seed: 5, orderBooks: true });
  const ticks = await readTicks(ticksTopic, SECONDS * RATE);
  const booksTopic = `${ns.topicNamespace}market.orderbook.v1`;
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const books = await Promise.all((await readTopic(booksTopic, { quietMs: 3_000 })).map((m) => registry.decode(m.value as Buffer) as Promise<OrderBook>));
  assert.equal(books.length, ticks.length, 'an order book per trade');

  await waitForGroupCaughtUp(groupId, ticksTopic);
  await waitForGroupCaughtUp(groupId, booksTopic);
  const ticksTable = `${ns.tablePrefix}ticks`;
  const booksTable = `${ns.tablePrefix}orderbook`;
  await waitFor('WAL applied', async () => {
    const [r] = await questdbQuery(`select sum(case when writerTxn < sequencerTxn then 1 else 0 end) lagging from wal_tables() where name in ('${ticksTable}', '${booksTable}')`);
    return r?.['lagging'] === 0 ? true : undefined;
  });

  const written = await Promise.all(sinks.map((s) => metricValue(s, 'sink_rows_written_total', { table: ticksTable })));
  assert.ok(written.every((n) => n > 0), `both instances wrote ticks: ${written.join(', ')}`);
  const [t] = await questdbQuery(`select count() n, count_distinct(concat(symbol, '@', ts, '@', seq)) k, sum(quantity) q, sum(price) p from "${ticksTable}"`);
  assert.deepEqual(t, { n: ticks.length, k: ticks.length, q: ticks.reduce((s, x) => s + x.quantity, 0), p: ticks.reduce((s, x) => s + x.price, 0) });

  // Order books: one row per book, and every level of every book where the record put it.
  const rows = await questdbQuery(`select * from "${booksTable}"`);
  assert.equal(rows.length, books.length);
  const byKey = new Map(rows.map((r) => [`${r['symbol']}@${isoToMicros(r['ts'] as string)}@${r['seq']}`, r]));
  for (const b of books) {
    const r = byKey.get(`${b.symbol}@${b.exchangeTime}@${b.sequence}`);
    assert.ok(r, `book ${b.symbol} ${b.sequence}`);
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(
        [r[`ask_price_${i + 1}`], r[`ask_qty_${i + 1}`], r[`bid_price_${i + 1}`], r[`bid_qty_${i + 1}`]],
        [b.askPrices[i] ?? null, b.askQuantities[i] ?? null, b.bidPrices[i] ?? null, b.bidQuantities[i] ?? null],
      );
    }
    assert.deepEqual([r['total_ask_qty'], r['total_bid_qty'], isoToMicros(r['ingest_time'] as string)], [b.totalAskQuantity, b.totalBidQuantity, b.ingestTime]);
  }
  for (const s of sinks) assert.equal(s.child.exitCode, null);
});
