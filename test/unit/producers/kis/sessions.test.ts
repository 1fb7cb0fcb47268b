import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tick } from '../../../../schemas/generated/types.js';
import { FakeKisServer } from '../../../fakes/kis/server.js';
import { waitFor } from '../../../helpers/wait.js';
import { ACCOUNTS, held, startHarness, TOPICS, type ProducerHarness } from './harness.js';

const [A, B, C] = ACCOUNTS as [typeof ACCOUNTS[0], typeof ACCOUNTS[0], typeof ACCOUNTS[0]];
const fast = { timeoutMs: 15_000, intervalMs: 20 };

async function allAcknowledged(h: ProducerHarness, expected: number): Promise<void> {
  await waitFor(`${expected} registrations acknowledged`, () => {
    const total = h.sessions.all.reduce((n, s) => n + s.status().registrations, 0);
    return total === expected && h.sessions.all.every((s) => s.status().awaitingAnswers === 0) ? true : undefined;
  }, fast);
}

const fakeKeys = (h: ProducerHarness, appKey: string) => h.fake.registrations(appKey);

test('100 symbols over 3 app keys: every registration acknowledged, none over the limit, what the fake holds is what the producer holds', async () => {
  const fake = await FakeKisServer.start({ accounts: ACCOUNTS, pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 150, marketRunning: false });
  const symbols = fake.listings.slice(0, 100).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, symbols });
  try {
    await allAcknowledged(h, 100);
    assert.deepEqual(h.sessions.all.map((s) => s.status().registrations), [34, 33, 33]);
    for (const [i, acct] of [A, B, C].entries()) assert.deepEqual(fakeKeys(h, acct.appKey), held(h, i));
    assert.ok(fake.connections().every((c) => c.maxRegistrationsHeld <= 41));
    assert.equal(fake.answers.filter((a) => a.msgCd !== 'OPSP0000').length, 0);
    assert.deepEqual(h.sessions.health().details.unplaced, { count: 0, registrations: [] });
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('too many registrations are reported in health and the metric, not dropped silently', async () => {
  const fake = await FakeKisServer.start({ accounts: ACCOUNTS, pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 150, marketRunning: false });
  const symbols = fake.listings.slice(0, 100).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, symbols, trs: ['H0STCNT0', 'H0STASP0'] });
  try {
    await allAcknowledged(h, 123);
    const health = h.sessions.health();
    assert.equal(health.details.unplaced.count, 77);
    assert.equal((await h.registry.getSingleMetricAsString('kis_registrations_unplaced')).includes('kis_registrations_unplaced 77'), true);
    assert.match(h.logs(), /77 registration\(s\) fit in no session/);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('MAX SUBSCRIBE OVER from a server with a lower limit re-plans: each session keeps what the server allows, the rest is reported', async () => {
  const fake = await FakeKisServer.start({ accounts: ACCOUNTS, pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 150, marketRunning: false, maxRegistrations: 33 });
  const symbols = fake.listings.slice(0, 100).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, symbols });
  try {
    await allAcknowledged(h, 99);
    assert.deepEqual(h.sessions.all.map((s) => s.status().registrations), [33, 33, 33]);
    assert.ok(fake.answers.some((a) => a.msgCd === 'OPSP0008'));
    assert.ok(fake.connections().every((c) => c.maxRegistrationsHeld <= 33));
    assert.equal(h.sessions.health().details.unplaced.count, 1);
    for (const [i, acct] of [A, B, C].entries()) assert.deepEqual(fakeKeys(h, acct.appKey), held(h, i));
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('symbols added and removed while running are (un)subscribed, nothing else changes', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, marketRunning: false });
  const all = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols: all.slice(0, 10), trs: ['H0STCNT0', 'H0STASP0'] });
  try {
    await allAcknowledged(h, 20);
    const answersBefore = fake.answers.length;
    h.sessions.setSymbols([...all.slice(3, 10), ...all.slice(20, 25)]);
    await allAcknowledged(h, 24);
    const expected = [...all.slice(3, 10), ...all.slice(20, 25)].flatMap((s) => [`H0STASP0|${s}`, `H0STCNT0|${s}`]).sort();
    assert.deepEqual(fake.registrations(A.appKey), expected);
    const changes = fake.answers.slice(answersBefore);
    assert.equal(changes.filter((a) => a.msgCd === 'OPSP0001').length, 6, '3 symbols × 2 TRs unsubscribed');
    assert.equal(changes.filter((a) => a.msgCd === 'OPSP0000').length, 10, '5 symbols × 2 TRs subscribed');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('a dropped connection is restored with exactly the registrations held before, and ticks flow on the new one', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 40, ticksPerSecond: 2_000, maxRecordsPerFrame: 4 });
  const symbols = fake.listings.slice(0, 20).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols, trs: ['H0STCNT0', 'H0STASP0'] });
  try {
    await allAcknowledged(h, 40);
    const before = fake.registrations(A.appKey);
    const dropped = fake.dropConnection(A.appKey);
    const reopened = await waitFor('a new session', () => {
      const s = fake.session(A.appKey);
      return s && s.id !== dropped && s.registrations.length === 40 ? s : undefined;
    }, fast);
    assert.deepEqual(fake.registrations(A.appKey), before);
    await allAcknowledged(h, 40);
    assert.deepEqual(held(h, 0), before);
    await waitFor('trades on the new connection', () => (fake.sent.filter((s) => s.connection === reopened.id && s.trId === 'H0STCNT0').length > 50 ? true : undefined), fast);
    fake.pauseMarket();
    await new Promise((r) => setTimeout(r, 200));
    const sentAfter = fake.sent.filter((s) => s.connection === reopened.id && s.trId === 'H0STCNT0').map((s) => `${s.symbol}@${s.cumulativeVolume}`);
    const received = new Set(h.sink.ticks().map((t) => `${t.symbol}@${t.sequence}`));
    assert.deepEqual(sentAfter.filter((k) => !received.has(k)), [], 'every trade sent after the reconnect was read');
    assert.equal((await h.registry.getSingleMetricAsString('kis_reconnects_total')).includes('session="0"} 1'), true);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('PINGPONG is answered (text echo); an unanswered one closes the session and the producer comes back', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 50, pongTimeoutMs: 1_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 5).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 5);
    const first = fake.session(A.appKey);
    assert.ok(first);
    await new Promise((r) => setTimeout(r, 400));
    const still = fake.connections().find((c) => c.id === first.id);
    assert.ok(still?.open, 'answered heartbeats keep the session open');
    assert.ok((still?.pongsReceived ?? 0) >= 3, `pongs ${still?.pongsReceived}`);
    fake.ignorePongs(A.appKey);
    const next = await waitFor('a new session after the heartbeat timeout', () => {
      const s = fake.session(A.appKey);
      return s && s.id !== first.id && s.registrations.length === 5 ? s : undefined;
    }, fast);
    assert.equal(fake.connections().find((c) => c.id === first.id)?.closeReason, 'PINGPONG not answered');
    assert.deepEqual(next.registrations.map((r) => r.trKey).sort(), [...symbols].sort());
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('an expired approval key is renewed once; refused again, the session stops with a clear error', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 3).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 3);
    assert.equal(fake.approvalRequests.get(A.appKey), 1);
    // Keys are checked when a connection subscribes: expire, then make the producer reconnect.
    fake.expireApprovalKeys(A.appKey);
    fake.dropConnection(A.appKey);
    await waitFor('re-subscribed with a renewed key', () => (fake.registrations(A.appKey).length === 3 ? true : undefined), fast);
    assert.equal(fake.approvalRequests.get(A.appKey), 2, 'renewed exactly once');
    assert.ok(fake.answers.some((a) => a.msgCd === 'OPSP0011'));
    // The fake records a registration before the producer has read its acknowledgement: wait for it.
    await waitFor('healthy again', () => (h.sessions.health().healthy ? true : undefined), fast);

    fake.rejectApprovals(A.appKey);
    fake.expireApprovalKeys(A.appKey);
    fake.dropConnection(A.appKey);
    await waitFor('the session to give up', () => (h.sessions.all[0]?.state === 'failed' ? true : undefined), fast);
    assert.equal(fake.approvalRequests.get(A.appKey), 3, 'one renewal, then no more');
    const health = h.sessions.health();
    assert.equal(health.healthy, false);
    assert.equal(health.details.sessions[0]?.lastError?.code, 'KIS_AUTH_REJECTED');
    assert.match(health.details.sessions[0]?.lastError?.message ?? '', /OPSP0011 invalid approval/);
    assert.match(h.logs(), /"level":50.*session stopped/);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('a second session on the same app key gets ALREADY IN USE: a clear error, retried until the key is free', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 3).map((l) => l.symbol);
  const first = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  let second: ProducerHarness | undefined;
  try {
    await allAcknowledged(first, 3);
    second = await startHarness({ fakeServer: fake, accounts: [A], symbols, session: { backoff: { baseMs: 50, maxMs: 200 } } });
    const s2 = second;
    await waitFor('ALREADY IN USE', () => (fake.answers.some((a) => a.msgCd === 'OPSP8996') && !s2.sessions.health().healthy ? true : undefined), fast);
    assert.equal(s2.sessions.health().details.sessions[0]?.appKeyInUse, true);
    assert.match(s2.logs(), /still holds its WebSocket session \(OPSP8996 ALREADY IN USE appkey\)/);
    assert.equal(s2.sessions.health().details.sessions[0]?.lastError?.code, 'KIS_SLOT_HELD');
    assert.equal(s2.sessions.all[0]?.state === 'failed', false, 'a taken slot is waited out, never a reason to give up');
    await first.stop();
    await allAcknowledged(s2, 3);
    await waitFor('healthy again', () => (s2.sessions.health().healthy ? true : undefined), fast);
    assert.deepEqual(fake.registrations(A.appKey), symbols.map((s) => `H0STCNT0|${s}`).sort());
  } finally {
    await first.stop();
    await second?.stop();
    await fake.close();
  }
});

test('ALREADY IN SUBSCRIBE counts as subscribed; internal errors are retried; UNSUBSCRIBE ERROR(not found!) counts as gone', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, marketRunning: false });
  const symbols = fake.listings.slice(0, 3).map((l) => l.symbol);
  fake.failNextRequests(A.appKey, 'OPSP0002', 'OPSP0007');
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 3);
    assert.deepEqual(fake.answers.map((a) => a.msgCd), ['OPSP0002', 'OPSP0007', 'OPSP0000', 'OPSP0000']);
    assert.deepEqual(fake.registrations(A.appKey), held(h, 0));
    assert.equal(h.sessions.all[0]?.state, 'open');
    fake.failNextRequests(A.appKey, 'OPSP0003');
    h.sessions.setSymbols(symbols.slice(1));
    await allAcknowledged(h, 2);
    assert.deepEqual(fake.registrations(A.appKey), held(h, 0));
    assert.equal(fake.answers.at(-1)?.msgCd, 'OPSP0003');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('encrypted frames are decrypted with the ack key and iv; malformed frames go to the DLQ and the good ones around them arrive', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 20, ticksPerSecond: 1_000, maxRecordsPerFrame: 3 });
  const symbols = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 20);
    await waitFor('plain trades', () => (h.sink.ticks().length > 20 ? true : undefined), fast);
    fake.setEncrypted('H0STCNT0', true);
    await waitFor('encrypted trades sent', () => (fake.sent.filter((s) => s.encrypted).length > 20 ? true : undefined), fast);
    fake.setEncrypted('H0STCNT0', false);
    for (const kind of ['garbage', 'bad-count', 'short-record', 'bad-number', 'bad-json', 'unknown-tr', 'bad-encryption'] as const) fake.sendMalformed(A.appKey, kind);
    fake.setFieldCount('H0STCNT0', 44);
    await waitFor('short records sent', () => (fake.sent.filter((s) => s.record.split('^').length === 44).length > 3 ? true : undefined), fast);
    fake.setFieldCount('H0STCNT0', 50);
    await waitFor('wide records sent', () => (fake.sent.filter((s) => s.record.split('^').length === 50).length > 3 ? true : undefined), fast);
    fake.setFieldCount('H0STCNT0', undefined);
    await new Promise((r) => setTimeout(r, 200));
    fake.pauseMarket();
    await new Promise((r) => setTimeout(r, 200));

    const received = new Set(h.sink.ticks().map((t: Tick) => `${t.symbol}@${t.sequence}`));
    const sentGood = fake.sent.filter((s) => s.record.split('^').length >= 46);
    assert.ok(sentGood.some((s) => s.encrypted) && sentGood.some((s) => s.record.split('^').length === 50));
    assert.deepEqual(sentGood.map((s) => `${s.symbol}@${s.cumulativeVolume}`).filter((k) => !received.has(k)), [], 'every good trade arrived, encrypted and widened ones too');
    const shortOnes = fake.sent.filter((s) => s.record.split('^').length === 44).map((s) => `${s.symbol}@${s.cumulativeVolume}`);
    assert.ok(shortOnes.every((k) => !received.has(k)), 'no tick from a frame that was too short');

    const dead = h.sink.messages.filter((m) => m.topic === TOPICS.dlq);
    const reasons = dead.map((m) => String(m.message.headers?.['kmarket.dlq.context.reason']));
    for (const reason of ['header', 'width', 'field', 'json', 'unknown-tr', 'decrypt']) assert.ok(reasons.includes(reason), `a ${reason} error in the DLQ (${reasons.join(',')})`);
    // Each DLQ record carries the raw text and the reason, and the raw topic has every frame.
    const garbage = dead.find((m) => String(m.message.value) === 'this is not a KIS frame');
    assert.ok(garbage);
    assert.match(String(garbage.message.headers?.['kmarket.dlq.error.message']), /not a data frame/);
    assert.ok(h.sink.texts(TOPICS.raw).includes('this is not a KIS frame'));
    assert.equal(h.sink.texts(TOPICS.raw).filter((t) => t.startsWith('1|H0STCNT0|')).length > 0, true, 'encrypted frames kept raw as received');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('app keys, secrets and approval keys never appear in the logs, whatever happens', async () => {
  const fake = await FakeKisServer.start({ accounts: [A, B], pingIntervalMs: 50, pongTimeoutMs: 1_000, universe: 20, ticksPerSecond: 500 });
  const symbols = fake.listings.map((l) => l.symbol);
  // C is not an account of the fake: its approval request is refused (HTTP 403).
  const h = await startHarness({ fakeServer: fake, accounts: [A, B, C], symbols, trs: ['H0STCNT0', 'H0STASP0'] });
  try {
    await waitFor('two sessions up', () => (fake.registrations(A.appKey).length > 0 && fake.registrations(B.appKey).length > 0 ? true : undefined), fast);
    await waitFor('C refused', () => (h.sessions.all[2]?.state === 'failed' ? true : undefined), fast);
    fake.expireApprovalKeys(A.appKey);
    fake.dropConnection(A.appKey);
    await waitFor('A renewed', () => ((fake.approvalRequests.get(A.appKey) ?? 0) >= 2 && fake.registrations(A.appKey).length > 0 ? true : undefined), fast);
    fake.rejectApprovals(B.appKey);
    fake.expireApprovalKeys(B.appKey);
    fake.dropConnection(B.appKey);
    await waitFor('B gives up', () => (h.sessions.all[1]?.state === 'failed' ? true : undefined), fast);
    fake.ignorePongs(A.appKey);
    fake.sendMalformed(A.appKey, 'bad-json');
    await waitFor('A back after the heartbeat timeout', () => (fake.connections().filter((c) => c.appKey === A.appKey).length >= 3 && fake.registrations(A.appKey).length > 0 ? true : undefined), fast);
  } finally {
    await h.stop();
    await fake.close();
  }
  const logs = h.logs();
  assert.ok(logs.length > 1000, 'the scenario logged at debug level');
  for (const s of [A, B, C].flatMap((a) => [a.appKey, a.appSecret])) assert.ok(!logs.includes(s), `credential leaked: ${s.slice(0, 12)}…`);
  const approvals = fake.issuedApprovalKeys();
  assert.ok(approvals.length >= 4);
  for (const k of approvals) assert.ok(!logs.includes(k), `approval key leaked: ${k}`);
});

test('the combined KRX+NXT feed (H0UNCNT0 trades, 65-field H0UNASP0 books) gives ticks and order books like the KRX one', async () => {
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 10, ticksPerSecond: 500, maxRecordsPerFrame: 2 });
  const symbols = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols, trs: ['H0UNCNT0', 'H0UNASP0'] });
  try {
    await allAcknowledged(h, 20);
    await waitFor('books and ticks', () => (h.sink.books().length > 20 && h.sink.ticks().length > 20 ? true : undefined), fast);
    fake.pauseMarket();
    await new Promise((r) => setTimeout(r, 200));
    const sentBooks = fake.sent.filter((s) => s.trId === 'H0UNASP0');
    assert.ok(sentBooks.every((s) => s.record.split('^').length === 66), 'the layout since 2026-09-14');
    assert.equal(h.sink.books().length, sentBooks.length);
    assert.equal(h.sink.ticks().length, fake.sent.filter((s) => s.trId === 'H0UNCNT0').length);
    assert.equal(h.sink.messages.filter((m) => m.topic === TOPICS.dlq).length, 0);
    const book = h.sink.books()[0];
    assert.equal(book?.askPrices.length, 10);
    assert.equal(book?.source, 'KIS');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('KRX and NXT feeds side by side (krx session mode, KST 11:00): every trade of both venues arrives once, with its venue and session', async () => {
  const now = Date.now();
  const kst = new Date(now + 9 * 3600_000);
  const elevenKst = Date.UTC(kst.getUTCFullYear(), kst.getUTCMonth(), kst.getUTCDate(), 2, 0, 0);
  const fake = await FakeKisServer.start({ accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000, universe: 10, ticksPerSecond: 2_000, maxRecordsPerFrame: 4, session: 'krx', marketClockOffsetMs: elevenKst - now });
  const symbols = fake.listings.map((l) => l.symbol);
  // The producer's clock reads the market's too: a trade stamped hours after its receipt is invalid.
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols, trs: ['H0STCNT0', 'H0NXCNT0', 'H0STASP0', 'H0NXASP0'], clockOffsetMs: elevenKst - now });
  try {
    await allAcknowledged(h, 40);
    await waitFor('trades of both venues', () => {
      const t = h.sink.ticks();
      return t.filter((x) => x.venue === 'NXT').length > 30 && t.filter((x) => x.venue === 'KRX').length > 30 ? true : undefined;
    }, fast);
    fake.pauseMarket();
    const sentTrades = () => fake.sent.filter((s) => s.trId.endsWith('CNT0'));
    await waitFor('every trade sent read', () => (h.sink.ticks().length === sentTrades().length ? true : undefined), fast);
    const key = (venue: string, symbol: string, seq: number) => `${venue}|${symbol}|${seq}`;
    const received = new Map(h.sink.ticks().map((t) => [key(t.venue, t.symbol, t.sequence), t]));
    assert.equal(received.size, h.sink.ticks().length, '(venue, symbol, sequence) is unique');
    for (const s of sentTrades()) {
      const t = received.get(key(s.trId === 'H0NXCNT0' ? 'NXT' : 'KRX', s.symbol, s.cumulativeVolume));
      assert.ok(t, `${s.trId} ${s.symbol}@${s.cumulativeVolume} arrived with its venue`);
      assert.equal(t.marketSession, 'REGULAR');
      assert.equal(s.record.split('^').length, 47, 'the current layout');
    }
    const books = h.sink.books();
    assert.ok(books.some((b) => b.venue === 'NXT') && books.some((b) => b.venue === 'KRX'));
  } finally {
    await h.stop();
    await fake.close();
  }
});
