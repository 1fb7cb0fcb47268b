import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeKisServer } from '../../../fakes/kis/server.js';
import { waitFor } from '../../../helpers/wait.js';
import { ACCOUNTS, startHarness, TOPICS, type ProducerHarness } from './harness.js';

const A = ACCOUNTS[0] as (typeof ACCOUNTS)[number];
const fast = { timeoutMs: 20_000, intervalMs: 10 };
const fakeDefaults = { accounts: [A], pingIntervalMs: 100, pongTimeoutMs: 2_000 };

async function allAcknowledged(h: ProducerHarness, expected: number): Promise<void> {
  await waitFor(`${expected} registrations acknowledged`, () => {
    const s = h.sessions.all[0]?.status();
    return s && s.registrations === expected && s.awaitingAnswers === 0 ? true : undefined;
  }, fast);
}

/** A new session of A (not `after`) that holds `regs` registrations and has had data, per the fake. */
function backWithData(fake: FakeKisServer, after: number, regs: number) {
  return waitFor('A back with data on a new connection', () => {
    const s = fake.session(A.appKey);
    return s && s.id > after && s.registrations.length === regs && s.firstDataAt !== undefined ? s : undefined;
  }, fast);
}

/** The most claims of `times` inside any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let i = 0; i < times.length; i++) most = Math.max(most, times.filter((t) => t >= (times[i] as number) && t - (times[i] as number) < windowMs).length);
  return most;
}

test('a dropped session whose slot the server holds: waited out without a lock-out (OPSP0011 on the old key, OPSP8996 on a fresh one), data again soon after the slot frees', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, universe: 20, ticksPerSecond: 1_000, slotHoldMs: 1_500, lockoutConnects: 5, lockoutWindowMs: 60_000 });
  const symbols = fake.listings.slice(0, 5).map((l) => l.symbol);
  const h = await startHarness({
    fakeServer: fake, accounts: [A], symbols,
    session: { slotHoldMs: 300, backoff: { baseMs: 20, maxMs: 1_000 }, budgets: { windowMs: 60_000, connectsPerKey: 5, connectsPerProcess: 5, subscribesPerKey: 100, subscribesPerProcess: 100 } },
  });
  try {
    await allAcknowledged(h, 5);
    const dropped = fake.dropConnection(A.appKey) as number;
    const droppedAt = fake.connections().find((c) => c.id === dropped)?.closedAt as number;
    const back = await backWithData(fake, dropped, 5);
    const release = fake.slotReleases.find((r) => r.appKey === A.appKey);
    assert.ok(release, 'the fake held the slot and released it');
    const codes = fake.answers.filter((a) => a.connection > dropped && a.connection < back.id).map((a) => a.msgCd);
    assert.ok(codes.includes('OPSP0011') && codes.includes('OPSP8996'), `answers while held: ${codes.join(',')}`);
    const retries = fake.connections().filter((c) => c.id > dropped);
    assert.ok((retries[0]?.openedAt as number) - droppedAt >= 290, `first retry ${(retries[0]?.openedAt as number) - droppedAt} ms after the drop`);
    // The last backoff step is at most 1.5 × maxMs: the producer is back within that of the slot freeing.
    assert.ok(back.openedAt - release.at <= 1_500 + 300, `back ${back.openedAt - release.at} ms after the slot freed`);
    assert.deepEqual(fake.lockouts, []);
    assert.ok((h.sessions.all[0]?.status().connectAttempts as number) <= 5);
    assert.notEqual(h.sessions.all[0]?.state, 'failed');
    assert.match(h.logs(), /"code":"KIS_SLOT_HELD"/);
    assert.equal(h.sessions.health().healthy, true);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('however often the connection drops, connects stay inside the budget and the server never locks the key out', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, marketRunning: false, lockoutConnects: 3, lockoutWindowMs: 2_500 });
  const symbols = fake.listings.slice(0, 2).map((l) => l.symbol);
  const h = await startHarness({
    fakeServer: fake, accounts: [A], symbols,
    session: { slotHoldMs: 10, backoff: { baseMs: 10, maxMs: 100 }, budgets: { windowMs: 3_000, connectsPerKey: 3, connectsPerProcess: 10, subscribesPerKey: 100, subscribesPerProcess: 100 } },
  });
  try {
    let last = 0;
    for (let i = 0; i < 5; i++) {
      const s = await waitFor('A subscribed', () => {
        const c = fake.session(A.appKey);
        return c && c.id > last && c.registrations.length === 2 ? c : undefined;
      }, fast);
      last = fake.dropConnection(A.appKey) as number;
      assert.equal(last, s.id);
    }
    await waitFor('A subscribed once more', () => (fake.session(A.appKey)?.registrations.length === 2 ? true : undefined), fast);
    const claims = fake.sessionClaims.get(A.appKey) ?? [];
    assert.equal(claims.length, 6);
    assert.ok(busiestWindow(claims, 2_500) <= 3, `claims ${claims.map((t) => t - (claims[0] as number)).join(',')}`);
    assert.deepEqual(fake.lockouts, []);
    assert.match(h.logs(), /connect budget spent; waiting for it before connecting/);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('the backoff starts over only after a connection delivered data for KIS_STABLE_MS, not after one that merely stayed open', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, universe: 10, ticksPerSecond: 500, marketRunning: false });
  const symbols = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols, session: { slotHoldMs: 20, stableMs: 150, backoff: { baseMs: 10, maxMs: 5_000 } } });
  const session = () => h.sessions.all[0]?.status();
  const openFor = (ms: number) => waitFor(`a connection open for ${ms} ms`, () => {
    const s = fake.session(A.appKey);
    return s && s.registrations.length === 10 && Date.now() - s.openedAt > ms ? s : undefined;
  }, fast);
  const reconnectedAfter = (id: number) => waitFor('reconnected', () => (fake.session(A.appKey)?.id !== id && fake.session(A.appKey)?.registrations.length === 10 ? true : undefined), fast);
  try {
    await allAcknowledged(h, 10);
    for (const expected of [1, 2]) {
      const s = await openFor(300); // twice KIS_STABLE_MS, without any data
      fake.dropConnection(A.appKey);
      await reconnectedAfter(s.id);
      assert.equal(session()?.reconnectAttempt, expected, 'an idle connection does not reset the backoff');
    }
    fake.resumeMarket();
    const withData = await waitFor('data for longer than KIS_STABLE_MS', () => {
      const s = fake.session(A.appKey);
      return s?.firstDataAt !== undefined && Date.now() - s.firstDataAt > 300 && h.sink.ticks().length > 0 ? s : undefined;
    }, fast);
    fake.dropConnection(A.appKey);
    await reconnectedAfter(withData.id);
    assert.equal(session()?.reconnectAttempt, 1, 'data for long enough reset it');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('(un)subscribe requests go one at a time, KIS_REQUEST_INTERVAL_MS apart', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, marketRunning: false });
  const symbols = fake.listings.slice(0, 6).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols, session: { requestIntervalMs: 60 } });
  try {
    await allAcknowledged(h, 6);
    h.sessions.setSymbols(symbols.slice(2));
    await allAcknowledged(h, 4);
    const times = fake.answers.map((a) => a.at);
    assert.equal(times.length, 8);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    assert.ok(gaps.every((g) => g >= 50), `gaps ${gaps.join(',')}`);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('every answer code has its policy: refusals are reported and not retried, server faults are retried, unknown codes are reported once and given up after three tries', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, marketRunning: false });
  const symbols = fake.listings.slice(0, 5).map((l) => l.symbol);
  // The first five requests, in order: refused, bad TR, bad symbol, a server error naming no request, success.
  fake.failNextRequests(A.appKey, 'OPSP0009', 'OPSP8991', 'OPSP8992', 'OPSP9999');
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 2);
    const status = h.sessions.all[0]?.status();
    assert.deepEqual(status?.refused.map((r) => `${r.registration} ${r.msgCd}`), [
      `H0STCNT0|${symbols[0]} OPSP0009`, `H0STCNT0|${symbols[1]} OPSP8991`, `H0STCNT0|${symbols[2]} OPSP8992`,
    ]);
    const per = (s: string) => fake.answers.filter((a) => a.trKey === s).map((a) => a.msgCd);
    for (const s of symbols.slice(0, 3)) assert.equal(per(s).length, 1, `${s} asked once`);
    assert.deepEqual(per(symbols[3] as string), ['OPSP9999', 'OPSP0000'], 'the server error (tr_id "(null)") matched its request and was retried');
    assert.match(await h.registry.getSingleMetricAsString('kis_registrations_refused'), /session="0"} 3/);
    assert.equal(h.sessions.all[0]?.state, 'open');

    fake.failNextRequests(A.appKey, 'OPSP7777', 'OPSP7777', 'OPSP7777');
    const extra = fake.listings[6]?.symbol as string;
    h.sessions.setSymbols([...symbols, extra]);
    await waitFor('the unknown code given up', () => (h.sessions.all[0]?.status().refused.some((r) => r.msgCd === 'OPSP7777') ? true : undefined), fast);
    assert.deepEqual(per(extra), ['OPSP7777', 'OPSP7777', 'OPSP7777']);
    assert.equal(h.logs().split('is not in the KIS reference').length - 1, 1, 'reported once');
    // Unwanted and wanted again, a refused registration is asked for again.
    h.sessions.setSymbols(symbols.slice(3));
    h.sessions.setSymbols(symbols);
    await allAcknowledged(h, 5);
    assert.deepEqual(h.sessions.all[0]?.status().refused, []);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('PINGPONG is answered while Kafka back-pressure pauses delivery; the held frames follow in order on resume', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, universe: 10, ticksPerSecond: 1_000, pingIntervalMs: 50, pongTimeoutMs: 300 });
  const symbols = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 10);
    await waitFor('ticks', () => (h.sink.ticks().length > 10 ? true : undefined), fast);
    const conn = fake.session(A.appKey);
    h.sessions.pause();
    const delivered = h.sink.frames;
    const pings = conn?.pingsSent ?? 0;
    // Twenty heartbeats: more than enough to close a session that did not answer (300 ms).
    await waitFor('heartbeats while paused', () => ((fake.session(A.appKey)?.pingsSent ?? 0) >= pings + 20 ? true : undefined), fast);
    assert.equal(fake.session(A.appKey)?.id, conn?.id, 'the session stayed open');
    assert.equal(h.sink.frames, delivered, 'nothing delivered while paused');
    h.sessions.resume();
    fake.pauseMarket();
    const sent = () => fake.sent.filter((s) => s.trId === 'H0STCNT0').map((s) => `${s.symbol}@${s.cumulativeVolume}`);
    await waitFor('every trade delivered', () => (h.sink.ticks().length === sent().length ? true : undefined), fast);
    assert.deepEqual(h.sink.ticks().map((t) => `${t.symbol}@${t.sequence}`), sent(), 'in order');
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('on resume, once the frames one session held fill the output again, the other sessions stay paused', async () => {
  const B = ACCOUNTS[1] as (typeof ACCOUNTS)[number];
  const fake = await FakeKisServer.start({ ...fakeDefaults, accounts: [A, B], universe: 10, ticksPerSecond: 1_000 });
  const symbols = fake.listings.map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A, B], symbols });
  try {
    await waitFor('ticks on both sessions', () => (fake.registrations(A.appKey).length === 5 && fake.registrations(B.appKey).length === 5 && h.sink.ticks().length > 20 ? true : undefined), fast);
    h.sessions.pause();
    const sentBefore = fake.sent.length;
    // Held by the producer's sessions, not only sent by the fake: frames still in flight on a socket
    // are not there for the resume to hand over (CI met that once).
    await waitFor('frames held by both sessions', () => {
      const held = fake.sent.slice(sentBefore);
      return held.filter((x) => x.appKey === A.appKey).length > 20 && held.filter((x) => x.appKey === B.appKey).length > 20 && h.sessions.all.every((s) => s.heldFrames > 0) ? true : undefined;
    }, fast);
    // The output fills up with the first message handed over after the resume.
    const framesBefore = h.sink.frames;
    const push = h.sink.push.bind(h.sink);
    let pushes = 0;
    h.sink.push = (topic, message) => {
      push(topic, message);
      if (++pushes === 1) h.sessions.pause();
    };
    h.sessions.resume();
    assert.equal(h.sink.frames - framesBefore, 1, 'one frame, then every session holds again');
    h.sink.push = push;
    fake.pauseMarket();
    h.sessions.resume();
    const sent = () => fake.sent.filter((x) => x.trId === 'H0STCNT0').length;
    await waitFor('every trade delivered', () => (h.sink.ticks().length === sent() ? true : undefined), fast);
  } finally {
    await h.stop();
    await fake.close();
  }
});

test('a frame that is not UTF-8 goes to the DLQ as bytes without closing the socket; a binary frame is read like a text one', async () => {
  const fake = await FakeKisServer.start({ ...fakeDefaults, marketRunning: false });
  const symbols = fake.listings.slice(0, 2).map((l) => l.symbol);
  const h = await startHarness({ fakeServer: fake, accounts: [A], symbols });
  try {
    await allAcknowledged(h, 2);
    const conn = fake.session(A.appKey);
    const bad = Buffer.concat([Buffer.from('0|H0STCNT0|001|005930^'), Buffer.from([0xff, 0xfe, 0xc3])]);
    fake.sendBytes(A.appKey, bad);
    // The reference's recorded H0STCNT0 frame, sent as a binary frame.
    const recorded = '0|H0STCNT0|001|005930^112616^62700^2^400^0.64^62700.41^62700^63000^62300^62700^62600^125^9694968^607878273600^25807^15918^-9889^93.01^4614191^4291558^1^0.45^63.03^090013^3^0^090646^5^-300^100741^2^400^20230324^20^N^71292^244009^2795345^2044512^0.16^5367918^180.61^0^^62700';
    fake.sendBytes(A.appKey, Buffer.from(recorded), true);
    await waitFor('the recorded trade', () => (h.sink.ticks().length === 1 ? true : undefined), fast);
    const dead = h.sink.messages.filter((m) => m.topic === TOPICS.dlq);
    assert.equal(dead.length, 1);
    assert.deepEqual(dead[0]?.message.value, bad, 'the bytes as received');
    assert.equal(String(dead[0]?.message.headers?.['kmarket.dlq.context.reason']), 'encoding');
    assert.equal(h.sink.ticks()[0]?.sequence, 9694968);
    assert.equal(fake.session(A.appKey)?.id, conn?.id, 'the socket stayed open');
    assert.equal(fake.connections().length, 1);
  } finally {
    await h.stop();
    await fake.close();
  }
});
