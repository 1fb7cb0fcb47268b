import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde } from '../../lib/serde.js';
import { CandleSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Features, Indicators } from '../../schemas/generated/types.js';
import { referenceFeatures, sameFeature } from '../helpers/features.js';
import { readTopic, testKafka } from '../helpers/kafka.js';
import { metricValue } from '../helpers/metrics.js';
import { sliceEnv, stopAll } from '../helpers/pipeline.js';
import { isoToMicros, questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { stackEnv } from '../helpers/stack.js';
import { talibFixture } from '../helpers/talib-fixture.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';
import { sessionFields } from '../../stream-processors/candles/sessions.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

test('1 m candles → indicators service (killed -9 halfway, restored) → topics and QuestDB: indicators equal to TA-Lib within 1e-9, features to a recomputation from the candles table, provisional values marked', async () => {
  const fixture = talibFixture();
  const { common: base, ns } = sliceEnv('indicators');
  // The broker's minimum session: a quick takeover after the kill below.
  const common = { ...base, INDICATORS_APP_ID: `${ns.id}-indicators`, INDICATOR_INTERVALS: '1m', CONSUMER_SESSION_TIMEOUT_MS: '6000' };
  const candlesTopic = `${ns.topicNamespace}market.candles.1m.v1`;
  const indicatorsTopic = `${ns.topicNamespace}market.indicators.1m.v1`;
  const featuresTopic = `${ns.topicNamespace}market.features.1m.v1`;
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: candlesTopic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();

  // The fixture's bars as final 1 m candles of one symbol, an in-progress version before each tenth.
  const T0 = yesterdayAt('00:00').getTime() * 1000;
  const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
  const writer = await serde.registerValueSchema<Candle>(candlesTopic, CandleSchema);
  const messages = fixture.bars.flatMap((b, i) => {
    const c: Candle = { symbol: '005930', interval: '1m', windowStart: T0 + i * 60_000_000, windowEnd: T0 + (i + 1) * 60_000_000, open: b.close, high: b.high, low: Math.min(b.low, b.close), close: b.close, volume: b.volume, tradedValue: b.tradedValue, tradeCount: 1, vwap: b.close, isFinal: true, emittedAt: 0, ...sessionFields({}) };
    return [...(i % 10 === 9 ? [{ ...c, isFinal: false }] : []), c].map((x) => ({ key: x.symbol, value: writer.encode(x) }));
  });
  const producer = testKafka().producer();
  await producer.connect();
  // Half the bars, then kill -9 as soon as they are counted in (the last commit's worth may not be
  // committed yet); the second instance restores the state from the changelog and gets the rest.
  const half = messages.length / 2;
  await producer.send({ topic: candlesTopic, messages: messages.slice(0, half) });
  const first = startService('stream-processors/indicators/main.js', common);
  running.push(first);
  await waitFor('the first half counted in', async () => (await metricValue(first, 'indicators_1m_candles_in_total').catch(() => 0)) >= half || undefined, { timeoutMs: 90_000, intervalMs: 50 });
  await waitFor('a first commit', async () => (await metricValue(first, 'indicators_1m_transaction_seconds_count')) > 0 || undefined, { timeoutMs: 30_000, intervalMs: 20 });
  await first.stop('SIGKILL');
  const service = startService('stream-processors/indicators/main.js', common);
  running.push(service);
  await service.waitForLog(/indicators running/);
  await producer.send({ topic: candlesTopic, messages: messages.slice(half) });
  await producer.disconnect();
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.indicators.1m.v1,market.features.1m.v1,market.candles.1m.v1' });
  running.push(sink);
  await sink.waitForLog(/QuestDB sink running/);

  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL });
  const records = await Promise.all((await readTopic(indicatorsTopic, { count: messages.length, timeoutMs: 120_000 })).map((m) => registry.decode(m.value as Buffer) as Promise<Indicators>));
  const resumedWith = await metricValue(service, 'indicators_1m_candles_in_total');
  assert.ok(resumedWith < messages.length, `the second instance resumed from a commit (${resumedWith} of ${messages.length} candles), with the state restored`);
  const finals = records.filter((r) => r.isFinal);
  assert.equal(finals.length, fixture.bars.length, 'one final record per bar');
  assert.equal(records.filter((r) => !r.isFinal).length, messages.length - fixture.bars.length, 'the in-progress candles gave provisional records');
  const near = (a: number, e: number) => Math.abs(a - e) <= 1e-9 * Math.max(Math.abs(e), 1);
  let compared = 0;
  for (const [name, expected] of Object.entries(fixture.expected)) {
    expected.forEach((e, i) => {
      if (e === null) return;
      const got = finals[i]?.[name as keyof Indicators];
      assert.ok(typeof got === 'number' && near(got, e), `${name}[${i}]: ${got} vs TA-Lib ${e}`);
      compared++;
    });
  }
  assert.ok(compared > 5000);

  const table = `${ns.tablePrefix}indicators_1m`;
  const rows = await waitFor(`${table} complete`, async () => {
    const r = await questdbQuery(`select ts, is_final, sma20, rsi14, macd_signal, stoch_d, bb_upper from "${table}"`).catch(() => []);
    return r.length === fixture.bars.length && r.every((x) => x['is_final'] === true) ? r : undefined;
  }, { timeoutMs: 90_000, intervalMs: 1_000 });
  for (const r of rows) {
    const i = (isoToMicros(r['ts'] as string) - T0) / 60_000_000;
    for (const [col, name] of [['sma20', 'sma20'], ['rsi14', 'rsi14'], ['macd_signal', 'macdSignal'], ['stoch_d', 'stochD'], ['bb_upper', 'bbUpper']] as const) {
      const e = fixture.expected[name]?.[i] ?? null;
      if (e === null) assert.equal(r[col], null, `${col}[${i}] absent before warm-up`);
      else assert.ok(near(r[col] as number, e), `${table}.${col}[${i}]: ${r[col]} vs ${e}`);
    }
  }

  // Features: beside every indicators record, provisional ones marked; in QuestDB equal to a plain
  // recomputation over the candles table the same sink wrote.
  const features = await Promise.all((await readTopic(featuresTopic, { count: messages.length, timeoutMs: 120_000 })).map((m) => registry.decode(m.value as Buffer) as Promise<Features>));
  assert.deepEqual(features.map((f) => [f.windowStart, f.isFinal, f.close]), records.map((r) => [r.windowStart, r.isFinal, r.close]), 'one features record per indicators record, in the same order');
  const complete = (table: string, columns: string) => waitFor(`${table} complete`, async () => {
    const r = await questdbQuery(`select ts, is_final, ${columns} from "${table}" order by ts`).catch(() => []);
    return r.length === fixture.bars.length && r.every((x) => x['is_final'] === true) ? r : undefined;
  }, { timeoutMs: 90_000, intervalMs: 1_000 });
  const candleRows = await complete(`${ns.tablePrefix}candles_1m`, 'close, volume');
  const featureRows = await complete(`${ns.tablePrefix}features_1m`, 'close, volume, change, change_pct, volume_ratio, volatility20, bollinger_position');
  const history = candleRows.map((r) => ({ close: r['close'] as number, volume: r['volume'] as number }));
  let nonNull = 0;
  featureRows.forEach((r, i) => {
    assert.equal(r['ts'], candleRows[i]?.['ts']);
    const want = referenceFeatures(history, i);
    for (const [col, name] of [['change', 'change'], ['change_pct', 'changePct'], ['volume_ratio', 'volumeRatio'], ['volatility20', 'volatility20'], ['bollinger_position', 'bollingerPosition']] as const) {
      const got = r[col] as number | null;
      assert.ok(sameFeature(got, want[name]), `features_1m.${col}[${i}]: ${got} vs ${want[name]}`);
      if (got !== null) nonNull++;
    }
  });
  assert.ok(nonNull > 0.9 * 5 * fixture.bars.length, `${nonNull} feature values compared`);
});
