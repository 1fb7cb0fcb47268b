import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { createLogger } from '../../../../lib/logger.js';
import { isoToEpochDay } from '../../../../lib/time.js';
import { KrxDataClient } from '../../../../producers/krx/clients.js';
import type { KrxClientConfig } from '../../../../producers/krx/config.js';
import { FakeKrxServer } from '../../../fakes/krx/server.js';

let fake: FakeKrxServer;
before(async () => {
  fake = await FakeKrxServer.start({ universe: 12, paceMs: 0 });
});
after(() => fake.close());

const logger = createLogger('test', { level: 'silent' });
const config = (extra: Partial<KrxClientConfig> = {}): KrxClientConfig => ({
  source: 'data', dataUrl: fake.url, openApiUrl: fake.url, memberId: 'fake-member', password: 'fake-password', authKey: undefined,
  minIntervalMs: 1_000, openApiMinIntervalMs: 200, dailyBudget: 10_000, timeoutMs: 5_000, retries: 3, backoffBaseMs: 20, backoffMaxMs: 100,
  sessionMaxAgeMs: 3_600_000, ...extra,
});

test('polite by default: requests to data.krx.co.kr start at least one second apart, logins included', async () => {
  const client = new KrxDataClient(config(), { logger });
  const starts = fake.state.dataRequests;
  await Promise.all([client.day(isoToEpochDay('2026-11-23')), client.day(isoToEpochDay('2026-11-24'))]);
  assert.equal(fake.state.dataRequests - starts, 2);
  // Spaced at the client; seen at the server with a few ms of scheduling jitter on a loaded box.
  assert.ok((fake.state.minIntervalMs ?? 0) >= 950, `closest two data requests: ${fake.state.minIntervalMs} ms`);
});

test('a 5xx is retried with back-off; when the retries run out the error says so and may be retried later', async () => {
  const client = new KrxDataClient(config({ minIntervalMs: 0 }), { logger });
  await client.day(isoToEpochDay('2026-11-23')); // logged in
  fake.failNextRequests(503, 2);
  const day = await client.day(isoToEpochDay('2026-11-24'));
  assert.equal(day.bars.length, 12);
  fake.failNextRequests(502, 4);
  await assert.rejects(client.day(isoToEpochDay('2026-11-25')), (err: unknown) =>
    isAppError(err, 'SOURCE_UNAVAILABLE') && err.retryable && /HTTP 502, 4 attempt\(s\)/.test(err.message));
});

test('a wrong password is SOURCE_AUTH_FAILED, not retried', async () => {
  const client = new KrxDataClient(config({ minIntervalMs: 0, password: 'wrong' }), { logger });
  const logins = fake.state.logins;
  await assert.rejects(client.listings(), (err: unknown) => isAppError(err, 'SOURCE_AUTH_FAILED') && !err.retryable && /KRX login refused \(CD002\)/.test(err.message));
  assert.equal(fake.state.logins, logins);
});

test('days a bench prepares ahead are served as the same report as on demand: same bars, holidays still holidays', async () => {
  const prepared = await FakeKrxServer.start({ universe: 12, paceMs: 0 });
  try {
    // A week with a weekend: trading days and days without trading.
    const bytes = prepared.prepareDays('2026-11-19', '2026-11-25');
    assert.ok(bytes > 7 * 12 * 100, `prepared ${bytes} bytes`);
    const onDemand = new KrxDataClient(config({ minIntervalMs: 0 }), { logger });
    const ahead = new KrxDataClient(config({ minIntervalMs: 0, dataUrl: prepared.url }), { logger });
    const withoutReceipt = (d: Awaited<ReturnType<KrxDataClient['day']>>) => ({ ...d, bars: d.bars.map((b) => ({ ...b, ingestTime: 0 })) });
    let holidays = 0;
    for (let day = isoToEpochDay('2026-11-19'); day <= isoToEpochDay('2026-11-25'); day++) {
      const [a, b] = await Promise.all([onDemand.day(day), ahead.day(day)]);
      assert.deepEqual(withoutReceipt(b), withoutReceipt(a));
      if (b.holiday) holidays++;
    }
    assert.equal(holidays, 2, 'the weekend');
  } finally {
    await prepared.close();
  }
});
