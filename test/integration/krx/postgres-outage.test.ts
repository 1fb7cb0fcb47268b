import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AvroSerde } from '../../../lib/serde.js';
import { StockSchema } from '../../../schemas/generated/schemas.js';
import type { Stock } from '../../../schemas/generated/types.js';
import { readTopic, testKafka } from '../../helpers/kafka.js';
import { metricValue } from '../../helpers/metrics.js';
import { dropSchema, pgQuery } from '../../helpers/postgres.js';
import { stackEnv } from '../../helpers/stack.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { waitFor } from '../../helpers/wait.js';
import { expectedBars, krxWorld, testScope } from './helpers.js';

const { running, cleanup } = testScope();

test('Postgres away while bars keep coming: the sink pauses and commits nothing early, then resumes with nothing lost', async () => {
  const w = await krxWorld('krxpgdown');
  cleanup.push(() => w.fake.close(), () => dropSchema(w.schema));
  const url = new URL(stackEnv().POSTGRES_URL);
  const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
  cleanup.push(() => proxy.close());
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const sink = w.postgresSink({ POSTGRES_URL: url.toString(), SINK_MAX_BACKOFF_MS: '1000' });
  running.push(sink);
  await sink.waitForLog(/Postgres sink running/);
  const topic = `${w.ns.topicNamespace}krx.daily-bars.v1`;
  const group = w.env['POSTGRES_SINK_GROUP_ID'] as string;
  const count = async () => Number((await pgQuery<{ n: string }>(w.schema, 'select count(*) n from daily_bars'))[0]?.n);
  const committed = async () => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return (t?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    } finally {
      await admin.disconnect();
    }
  };

  const first = expectedBars(w.fake, '2025-03-03', '2025-03-31').length;
  const b1 = w.backfill({ BACKFILL_FROM: '2025-03-03', BACKFILL_TO: '2025-03-31' });
  running.push(b1);
  assert.equal(await b1.exited, 0);
  await waitFor('the first month in Postgres', async () => ((await count()) === first ? true : undefined), { timeoutMs: 60_000 });
  await waitFor('its offsets committed', async () => ((await committed()) === first ? true : undefined), { timeoutMs: 30_000 });

  proxy.cut();
  try {
    const second = expectedBars(w.fake, '2025-04-01', '2025-04-30').length;
    const b2 = w.backfill({ BACKFILL_FROM: '2025-04-01', BACKFILL_TO: '2025-04-30', BACKFILL_CHECKPOINT_FILE: `${w.env['BACKFILL_CHECKPOINT_FILE']}.april` });
    running.push(b2);
    assert.equal(await b2.exited, 0);
    await waitFor('a failed write', async () => ((await metricValue(sink, 'sink_flush_failures_total')) >= 2 ? true : undefined), { timeoutMs: 60_000 });
    assert.equal((await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`)).status, 503, 'unhealthy while it cannot write');
    assert.equal(await committed(), first, 'no offset committed while Postgres is away');
    assert.equal(await metricValue(sink, 'sink_rows_written_total'), first);
    assert.equal(await count(), first);
    proxy.restore();
    await waitFor('both months after Postgres is back', async () => ((await count()) === first + second ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    await waitFor('every offset committed', async () => ((await committed()) === first + second ? true : undefined), { timeoutMs: 60_000 });
  } finally {
    proxy.restore();
  }
  assert.equal(sink.child.exitCode, null, 'the sink kept running');
  await waitFor('healthy again', async () => ((await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`)).status === 200 ? true : undefined));
});

test('a row Postgres refuses (a NUL byte in a name) is dead-lettered with the reason; the rest of the batch is written and the sink goes on', async () => {
  const w = await krxWorld('krxpgrow', { universe: 5 });
  cleanup.push(() => w.fake.close(), () => dropSchema(w.schema));
  const sink = w.postgresSink();
  running.push(sink);
  await sink.waitForLog(/Postgres sink running/);
  const topic = `${w.ns.topicNamespace}ref.stocks.v1`;
  const writer = await new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL).registerValueSchema<Stock>(topic, StockSchema);
  const stock = (code: string, name: string): Stock => ({
    code, isin: 'KR7005930003', name, fullName: name, englishName: name, market: 'KOSPI', sector: null, industry: null, securityGroup: '주권',
    stockKind: '보통주', parValue: 100, listedShares: 10, listingDate: 1000, delisted: false, delistedDate: null, source: 'KRX_DATA', updatedAt: Date.now() * 1000,
  });
  const producer = testKafka().producer();
  await producer.connect();
  try {
    // One partition for all three, so they share a batch.
    await producer.send({ topic, messages: ['000010', '000020', '000030'].map((code, i) => ({ key: code, partition: 0, value: writer.encode(stock(code, i === 1 ? 'bad\u0000name' : `ok ${code}`)) })) });
  } finally {
    await producer.disconnect();
  }
  await waitFor('the two good rows', async () => ((await pgQuery(w.schema, 'select count(*) n from stocks'))[0]?.['n'] === '2' ? true : undefined));
  const [dead] = await readTopic(`${w.ns.topicNamespace}dlq.postgres-sink.v1`, { count: 1 });
  assert.equal(dead?.key?.toString(), '000020');
  assert.equal(dead?.headers?.['kmarket.dlq.error.code']?.toString(), 'SINK_ROW_REJECTED');
  assert.match(dead?.headers?.['kmarket.dlq.error.message']?.toString() ?? '', /Postgres refused the row/);
  await waitFor('healthy', async () => ((await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`)).status === 200 ? true : undefined));
});
