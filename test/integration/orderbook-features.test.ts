import assert from 'node:assert/strict';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { after, test } from 'node:test';
import { AvroSerde } from '../../lib/serde.js';
import { topicCatalogue } from '../../lib/topics.js';
import { OrderBookSchema } from '../../schemas/generated/schemas.js';
import type { OrderBook, OrderBookFeatures } from '../../schemas/generated/types.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { assertFeaturesMatch, referenceFeatures, type Level } from '../helpers/orderbook-features.js';
import { simulate, sliceEnv, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

const LEVELS = Array.from({ length: 10 }, (_, i) => i + 1);
const levels = (row: Record<string, unknown>, side: 'bid' | 'ask'): Level[] =>
  LEVELS.filter((i) => row[`${side}_price_${i}`] !== null).map((i) => ({ price: row[`${side}_price_${i}`] as number, qty: row[`${side}_qty_${i}`] as number }));
const camel = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()), v]));

test('simulated order books → features service → topic and QuestDB: a row per book equal to the features recomputed from the orderbook table; a malformed book dead-lettered', async () => {
  const { common, ns } = sliceEnv('obfeat');
  const appId = common['ORDERBOOK_FEATURES_APP_ID'] as string;
  const topics = topicCatalogue(ns.topicNamespace, 3);
  // Recent exchange times: older records than the topics' retention may be deleted mid-test.
  const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 600_000).toISOString();
  await simulate(common, { symbols: 40, ticksPerSecond: 300, seconds: 8, start, seed: 21, orderBooks: true });

  // A book whose bids rise away from the best: the sink stores it, the features service must not use it.
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<OrderBook>(topics.orderbook.name, OrderBookSchema);
  const BAD_SEQ = 1_000_000;
  const t = Date.parse(start) * 1000 + 1;
  const bad = writer.encode({
    symbol: '005930', exchangeTime: t, ingestTime: t, askPrices: [61_100], askQuantities: [5], bidPrices: [61_000, 61_050], bidQuantities: [3, 4], totalAskQuantity: 5, totalBidQuantity: 7,
    expectedPrice: 0, expectedQuantity: 0, cumulativeVolume: 0, hourClassCode: '0', sequence: BAD_SEQ, source: 'SIMULATOR', venue: 'KRX', marketSession: 'REGULAR',
  });
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic: topics.orderbook.name, messages: [{ key: '005930', value: bad }] });
  await producer.disconnect();
  const books = (await readTopic(topics.orderbook.name, { quietMs: 2_000 })).length;
  assert.ok(books > 1000, `the simulator wrote order books: ${books}`);

  const processor = startService('stream-processors/orderbook-features/main.js', common);
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.orderbook.v1,market.orderbook-features.v1' });
  running.push(processor, sink);
  await processor.waitForLog(/order-book features running/);
  await sink.waitForLog(/QuestDB sink running/);

  const [dead] = await readTopic(topics.dlq('orderbook-features').name, { count: 1 });
  assert.deepEqual(dead?.value, bad, 'the raw bytes are kept');
  assert.equal(dead?.headers?.['kmarket.dlq.error.code']?.toString(), 'VALIDATION_FAILED');
  assert.match(dead?.headers?.['kmarket.dlq.error.message']?.toString() ?? '', /bid prices are not strictly ordered/);

  // Exactly once in Kafka: every good book's features, once, decodable by a client that knows nothing of the project.
  await waitForGroupCaughtUp(appId, topics.orderbook.name, 120_000);
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const records = await Promise.all((await readTopic(topics.orderbookFeatures.name, { quietMs: 2_000 })).map((m) => registry.decode(m.value as Buffer) as Promise<OrderBookFeatures>));
  assert.equal(records.length, books - 1, 'one record per well-formed book');
  assert.equal(new Set(records.map((r) => `${r.symbol}|${r.venue}|${r.sequence}`)).size, records.length, 'no book twice');

  const booksTable = `${ns.tablePrefix}orderbook`;
  const featuresTable = `${ns.tablePrefix}orderbook_features`;
  // The features topic is transactional (commit markers a consumer never commits past): wait on the table.
  await waitFor('every features row in QuestDB', async () => {
    const [r] = await questdbQuery(`select count() n from "${featuresTable}"`).catch(() => [undefined]);
    return Number(r?.['n'] ?? 0) >= books - 1 ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 1_000 });
  await waitFor('WAL applied', async () => {
    const [r] = await questdbQuery(`select sum(case when writerTxn < sequencerTxn then 1 else 0 end) lagging, count() n from wal_tables() where name in ('${booksTable}', '${featuresTable}')`);
    return r?.['lagging'] === 0 && r['n'] === 2 ? true : undefined;
  }, { timeoutMs: 60_000 });

  const bookRows = await questdbQuery(`select * from "${booksTable}"`);
  const featureRows = await questdbQuery(`select * from "${featuresTable}"`);
  assert.equal(bookRows.length, books, 'the sink stored every book, the malformed one too');
  assert.equal(featureRows.length, books - 1, 'a features row per well-formed book, once');
  const id = (r: Record<string, unknown>) => `${r['symbol']}|${r['ts']}|${r['seq']}|${r['venue']}`;
  const features = new Map(featureRows.map((r) => [id(r), r]));
  let priced = 0;
  for (const b of bookRows) {
    const f = features.get(id(b));
    if (b['seq'] === BAD_SEQ) {
      assert.equal(f, undefined, 'no features from the malformed book');
      continue;
    }
    assert.ok(f, `features of book ${id(b)}`);
    assertFeaturesMatch(camel(f), referenceFeatures(levels(b, 'bid'), levels(b, 'ask')), id(b));
    assert.deepEqual([f['market_session'], f['total_bid_qty'], f['total_ask_qty']], [b['market_session'], b['total_bid_qty'], b['total_ask_qty']], id(b));
    if (f['spread'] !== null) priced++;
  }
  assert.ok(priced > books / 2, `most simulated books are two-sided: ${priced} of ${books}`);
  assert.equal(processor.child.exitCode, null);
});

test('a catch-up whose one transaction holds more output than a broker accepts in one batch commits it all, with no session lost', async () => {
  // 20,000 books of one symbol: one output partition; a 5 s commit interval puts all their features
  // (≈ 3 MB) into one transaction, above the broker's 1 MiB message.max.bytes for one record batch.
  const { common, ns } = sliceEnv('obfeatbig');
  const env = { ...common, COMMIT_INTERVAL_MS: '5000' };
  const topics = topicCatalogue(ns.topicNamespace, 3);
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: topics.orderbook.name, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const writer = await serde.registerValueSchema<OrderBook>(topics.orderbook.name, OrderBookSchema);
  const N = 20_000;
  const t0 = (Math.floor(Date.now() / 1000) - 600) * 1_000_000;
  const ladder = (from: number, step: number) => Array.from({ length: 10 }, (_, k) => from + step * k);
  const producer = testKafka().producer();
  await producer.connect();
  for (let i = 0; i < N; i += 2_000) {
    await producer.send({
      topic: topics.orderbook.name,
      messages: Array.from({ length: 2_000 }, (_, k) => ({
        key: '005930',
        value: writer.encode({
          symbol: '005930', exchangeTime: t0 + (i + k) * 1000, ingestTime: t0 + (i + k) * 1000, askPrices: ladder(61_100, 100), askQuantities: ladder(1_000 + k, 7),
          bidPrices: ladder(61_000, -100), bidQuantities: ladder(900 + i / 100, 11), totalAskQuantity: 123_456, totalBidQuantity: 654_321, expectedPrice: 0, expectedQuantity: 0,
          cumulativeVolume: i + k, hourClassCode: '0', sequence: i + k + 1, source: 'SIMULATOR', venue: 'KRX', marketSession: 'REGULAR',
        }),
      })),
    });
  }
  await producer.disconnect();

  const processor = startService('stream-processors/orderbook-features/main.js', env);
  running.push(processor);
  await processor.waitForLog(/order-book features running/);
  await waitForGroupCaughtUp(common['ORDERBOOK_FEATURES_APP_ID'] as string, topics.orderbook.name, 120_000);
  const out = await readTopic(topics.orderbookFeatures.name, { quietMs: 2_000 });
  assert.equal(out.length, N, 'one record per book, none twice');
  assert.doesNotMatch(processor.output(), /Kafka unreachable|Kafka answered|max message size/, 'no session was dropped on the way');
  assert.equal(processor.child.exitCode, null);
});
