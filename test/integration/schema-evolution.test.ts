import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import avro from 'avsc';
import { AvroSerde } from '../../lib/serde.js';
import { CandleSchema, OrderBookSchema, TickSchema } from '../../schemas/generated/schemas.js';
import { freshNamespace, stackEnv } from '../helpers/stack.js';

/** The schemas as they were before a change (copies of the committed files then): `venue`, `session`. */
const before = (name: string, change = 'venue') => JSON.parse(readFileSync(new URL(`../../../test/fixtures/schemas/${name}.before-${change}.avsc`, import.meta.url), 'utf8')) as avro.Schema;

const oldTick = {
  symbol: '005930', exchangeTime: Date.UTC(2026, 8, 11, 2, 26, 16) * 1000, ingestTime: Date.UTC(2026, 8, 11, 2, 26, 16, 3) * 1000,
  price: 62_700, quantity: 125, side: 'BUY', cumulativeVolume: 9_694_968, cumulativeValue: 607_878_273_600, sequence: 9_694_968,
  source: 'KIS', sessionCode: '20', halted: false,
};
const oldBook = {
  symbol: '005930', exchangeTime: Date.UTC(2026, 8, 11, 0, 0, 1) * 1000, ingestTime: Date.UTC(2026, 8, 11, 0, 0, 1, 2) * 1000,
  askPrices: [62_800], askQuantities: [10], bidPrices: [62_700], bidQuantities: [11], totalAskQuantity: 10, totalBidQuantity: 11,
  expectedPrice: 62_700, expectedQuantity: 1_234, cumulativeVolume: 0, hourClassCode: 'B', sequence: 7, source: 'KIS',
};

const oldCandle = {
  symbol: '005930', interval: '1h', windowStart: Date.UTC(2026, 8, 11, 6) * 1000, windowEnd: Date.UTC(2026, 8, 11, 7) * 1000,
  open: 62_700, high: 63_000, low: 62_500, close: 62_900, volume: 1_000, tradedValue: 62_800_000, tradeCount: 40, vwap: 62_800,
  isFinal: true, emittedAt: Date.UTC(2026, 8, 11, 7, 0, 2) * 1000,
};
const noRegularPart = { regularOpen: null, regularHigh: null, regularLow: null, regularClose: null, regularVolume: null, regularTradedValue: null, regularTradeCount: null };

async function compatibility(subject: string): Promise<string> {
  const res = await fetch(`${stackEnv().SCHEMA_REGISTRY_URL}/config/${encodeURIComponent(subject)}`);
  return ((await res.json()) as { compatibilityLevel: string }).compatibilityLevel;
}

for (const [name, oldSchema, newSchema, oldRecord, added, newValues] of [
  ['Tick', before('tick'), TickSchema, oldTick, { venue: 'KRX', marketSession: 'UNKNOWN' }, { venue: 'NXT', marketSession: 'AFTER_MARKET' }],
  ['OrderBook', before('orderbook'), OrderBookSchema, oldBook, { venue: 'KRX', marketSession: 'UNKNOWN' }, { venue: 'NXT', marketSession: 'AFTER_MARKET' }],
  ['Candle', before('candle', 'session'), CandleSchema, oldCandle, { marketSession: 'UNKNOWN', ...noRegularPart },
    { marketSession: 'MIXED', regularOpen: 62_700, regularHigh: 62_950, regularLow: 62_500, regularClose: 62_800, regularVolume: 900, regularTradedValue: 56_500_000, regularTradeCount: 35 }],
] as const) {
  test(`${name} with ${Object.keys(added).filter((k) => !k.startsWith('regular')).join(', ')}${'regularOpen' in added ? ' and its regular part' : ''} registers over the old version under BACKWARD, and old records read with the new schema`, async () => {
    const topic = `${freshNamespace(`evolve${name}`).topicNamespace}market.${name.toLowerCase()}.v1`;
    const url = stackEnv().SCHEMA_REGISTRY_URL;
    const serde = new AvroSerde(url);
    const v1 = await serde.registerValueSchema(topic, oldSchema);
    const oldBytes = v1.encode(oldRecord);
    assert.equal(await compatibility(v1.subject), 'BACKWARD');

    // A variant whose new field has no default is refused: the registry really checks.
    const noDefault = JSON.parse(JSON.stringify(newSchema)) as { fields: Array<{ name: string; default?: unknown }> };
    delete (noDefault.fields.find((f) => f.name === Object.keys(added)[0]) as { default?: unknown }).default;
    await assert.rejects(serde.registerValueSchema(topic, noDefault as avro.Schema), (err: { code?: string }) => err.code === 'SCHEMA_INCOMPATIBLE');

    const v2 = await serde.registerValueSchema(topic, newSchema);
    assert.notEqual(v2.id, v1.id, 'a new version');
    // A consumer on the new schema (fresh caches, writer fetched from the registry) reads the old record.
    const reader = avro.Type.forSchema(newSchema);
    const read = await new AvroSerde(url).decode<object>(oldBytes, reader);
    assert.deepEqual({ ...read }, { ...oldRecord, ...added });
    const fresh = { ...oldRecord, ...added, ...newValues };
    assert.deepEqual({ ...(await new AvroSerde(url).decode<object>(v2.encode(fresh), reader)) }, fresh);
  });
}
