import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DLQ_HEADERS } from '../../../lib/dlq.js';
import { RAW_RECEIVED_HEADER } from '../../../producers/kis/frame-processor.js';
import { FakeKisServer, type MalformedKind } from '../../fakes/kis/server.js';
import { readTopic } from '../../helpers/kafka.js';
import { startService } from '../../helpers/service-process.js';
import { freshNamespace } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, producerEnv, readAllTicks, settledTicks } from './helpers.js';
import { metricAt } from '../../helpers/metrics.js';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const A = ACCOUNTS[0] as (typeof ACCOUNTS)[number];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('malformed and reshaped frames land in the DLQ with the raw text and the reason; the good frames around them still arrive', async () => {
  const ns = freshNamespace('kisdlq');
  const fake = await FakeKisServer.start({ accounts: [A], universe: 30, ticksPerSecond: 800, maxRecordsPerFrame: 3, pingIntervalMs: 500, pongTimeoutMs: 2_000 });
  cleanup.push(() => fake.close());
  const symbols = fake.listings.slice(0, 15).map((l) => l.symbol);
  // The in-thread producer here (0 worker threads); the other KIS tests run the default and two threads.
  const producer = startService('producers/kis/main.js', producerEnv(fake, ns.topicNamespace, [A], { KIS_SYMBOLS: symbols.join(','), KIS_TRS: 'H0STCNT0', KIS_PRODUCER_THREADS: '0' }));
  cleanup.push(async () => void (await producer.stop()));
  await producer.waitForLog(/kis producer running/);
  const port = await producer.metricsPort();
  const topics = { ticks: `${ns.topicNamespace}market.ticks.v1`, dlq: `${ns.topicNamespace}dlq.kis-producer.v1`, raw: `${ns.topicNamespace}raw.kis.v1` };

  await waitFor('15 registrations', () => (fake.registrations(A.appKey).length === 15 ? true : undefined), { timeoutMs: 30_000 });
  await pause(500);
  const kinds: MalformedKind[] = ['garbage', 'bad-count', 'short-record', 'bad-number', 'bad-json', 'unknown-tr', 'bad-encryption'];
  const malformed = kinds.map((k) => fake.sendMalformed(A.appKey, k));
  await pause(300);
  fake.setFieldCount('H0STCNT0', 44); // a layout that shrank: unreadable
  await waitFor('short records sent', () => (fake.sent.filter((s) => s.record.split('^').length === 44).length >= 5 ? true : undefined));
  fake.setFieldCount('H0STCNT0', 49); // a layout that grew: read by position
  await waitFor('wide records sent', () => (fake.sent.filter((s) => s.record.split('^').length === 49).length >= 5 ? true : undefined));
  fake.setFieldCount('H0STCNT0', undefined);
  fake.setEncrypted('H0STCNT0', true); // encrypted with the ack's key and iv: readable
  await waitFor('encrypted records sent', () => (fake.sent.filter((s) => s.encrypted).length >= 5 ? true : undefined));
  fake.setEncrypted('H0STCNT0', false);
  await pause(300);
  fake.pauseMarket();

  const produced = await settledTicks(port, topics.ticks);
  const ticks = await readAllTicks(topics.ticks, produced);
  const inKafka = new Set(ticks.map((t) => `${t.symbol}@${t.sequence}`));
  const good = fake.sent.filter((s) => s.record.split('^').length >= 46);
  const short = fake.sent.filter((s) => s.record.split('^').length < 46);
  assert.ok(good.some((s) => s.encrypted) && good.some((s) => s.record.split('^').length === 49));
  assert.deepEqual(good.map((s) => `${s.symbol}@${s.cumulativeVolume}`).filter((k) => !inKafka.has(k)), [], 'every good trade, before, between and after the bad frames');
  assert.equal(ticks.length, good.length, 'and nothing else');
  assert.ok(short.every((s) => !inKafka.has(`${s.symbol}@${s.cumulativeVolume}`)));

  const parseErrors = await metricAt(port, 'kis_parse_errors_total');
  const dead = await readTopic(topics.dlq, { count: parseErrors });
  assert.equal(dead.length, parseErrors);
  const texts = dead.map((m) => String(m.value));
  for (const text of malformed) assert.ok(texts.includes(text), `malformed frame in the DLQ: ${text.slice(0, 40)}`);
  const shortFrames = dead.filter((m) => String(m.value).startsWith('0|H0STCNT0|') && String(m.headers?.['kmarket.dlq.context.reason']) === 'width');
  // Each short frame holds 1-3 of the short records; the malformed 'short-record' and 'bad-count' frames are width errors too.
  assert.ok(shortFrames.length >= Math.ceil(short.length / 3) + 2, `${shortFrames.length} width errors for ${short.length} short records`);
  for (const m of dead) {
    assert.equal(String(m.headers?.[DLQ_HEADERS.stage]), 'kis-producer');
    assert.ok(['DECODE_FAILED', 'VALIDATION_FAILED'].includes(String(m.headers?.[DLQ_HEADERS.code])));
    assert.ok(String(m.headers?.[DLQ_HEADERS.message]).length > 0, 'the reason is in the headers');
    assert.ok(Number(String(m.headers?.[RAW_RECEIVED_HEADER])) > 0);
  }
  assert.equal(dead.filter((m) => String(m.headers?.['kmarket.dlq.context.reason']) === 'json').length, 1);

  // Every frame also reached raw.kis.v1, as received, keyed by its TR id.
  const frames = await metricAt(port, 'kis_frames_total');
  const raw = await readTopic(topics.raw, { count: frames + 1 }); // + the bad JSON frame, not a data frame
  const rawTexts = new Set(raw.map((m) => String(m.value)));
  for (const text of malformed) assert.ok(rawTexts.has(text));
  assert.ok(raw.filter((m) => String(m.value).startsWith('1|H0STCNT0|')).every((m) => String(m.key) === 'H0STCNT0'));
  assert.equal(producer.child.exitCode, null, 'the session went on');
  assert.equal(fake.connections().length, 1, 'on the same connection');
});
