import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Candle } from '../../../../schemas/generated/types.js';
import { CandleTask, decodeCheckpointMetadata, encodeCheckpointMetadata, type Checkpoint } from '../../../../stream-processors/candles/candle-task.js';
import type { TradeInput } from '../../../../stream-processors/candles/windows.js';
import { Random } from '../../../../producers/simulator/random.js';
import { expectedSessionFields } from '../../../helpers/candles.js';

const S = 1_000_000; // one second in micros
const T0 = 1_763_780_400 * S; // 2025-11-22T03:00:00Z, a whole second

function newTask() {
  return new CandleTask({ interval: '1s', sizeMicros: S, graceMicros: 500_000, idleMs: 1000 });
}

/** The independent computation: group by second, order by (time, sequence), no streaming at all. */
function expectedCandles(trades: readonly TradeInput[]): Map<string, Omit<Candle, 'emittedAt' | 'isFinal' | 'interval'>> {
  const groups = new Map<string, TradeInput[]>();
  for (const t of trades) {
    const k = `${t.symbol}@${Math.floor(t.time / S) * S}`;
    groups.set(k, [...(groups.get(k) ?? []), t]);
  }
  const out = new Map();
  for (const [k, g] of groups) {
    const sorted = [...g].sort((a, b) => a.time - b.time || a.sequence - b.sequence);
    const first = sorted[0] as TradeInput;
    const last = sorted[sorted.length - 1] as TradeInput;
    const volume = g.reduce((s, t) => s + t.quantity, 0);
    const value = g.reduce((s, t) => s + t.price * t.quantity, 0);
    const start = Math.floor(first.time / S) * S;
    out.set(k, {
      symbol: first.symbol, windowStart: start, windowEnd: start + S,
      open: first.price, close: last.price, high: Math.max(...g.map((t) => t.price)), low: Math.min(...g.map((t) => t.price)),
      volume, tradedValue: value, tradeCount: g.length, vwap: value / volume,
      ...expectedSessionFields(g),
    });
  }
  return out;
}

/**
 * A stream with jitter: each trade arrives up to 300 ms after its exchange time (inside the 500 ms
 * grace), so arrival order differs from event order; `lateEvery` delays every n-th trade by 3 s,
 * beyond the grace, so it must come out as late.
 */
const SESSIONS = ['REGULAR', 'REGULAR', 'REGULAR', 'REGULAR', 'AFTER_MARKET', 'CLOSING_PRICE', undefined] as const;

function jitteredTrades(n: number, seed: number, lateEvery = 0): TradeInput[] {
  const rng = new Random(seed);
  const symbols = ['005930', '000660', '035720'];
  const seq = new Map<string, number>();
  const arrivals: Array<{ at: number; trade: TradeInput }> = [];
  for (let i = 0; i < n; i++) {
    const symbol = symbols[rng.int(0, symbols.length)] as string;
    const s = (seq.get(symbol) ?? 0) + 1;
    seq.set(symbol, s);
    const trade: TradeInput = { symbol, time: T0 + i * 10_000, sequence: s, price: 60_000 + rng.int(-20, 20) * 100, quantity: rng.int(1, 500) };
    // Sessions mixed inside windows (and some absent) so every path of the session fields is taken.
    const session = SESSIONS[rng.int(0, SESSIONS.length)];
    if (session) trade.session = session;
    const delay = lateEvery > 0 && i % lateEvery === lateEvery - 1 ? 3 * S : rng.int(0, 300_000);
    arrivals.push({ at: trade.time + delay, trade });
  }
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.trade);
}

function strip(c: Candle) {
  const { emittedAt: _e, isFinal: _f, interval: _i, ...rest } = c;
  return rest;
}

/** Runs trades through a task, then lets the partition go idle long enough to close everything. */
function runAll(task: CandleTask, trades: readonly TradeInput[], fromOffset = 0): { finals: Candle[]; late: number[] } {
  const finals: Candle[] = [];
  const late: number[] = [];
  trades.forEach((t, i) => {
    const offset = fromOffset + i;
    if (task.process(0, offset, t, 0) === 'late') late.push(offset);
    finals.push(...task.takeFinals(1));
  });
  task.punctuate(10_000, new Set([0]));
  finals.push(...task.takeFinals(1));
  return { finals, late };
}

test('final candles equal an independent computation, out-of-order trades included', () => {
  const trades = jitteredTrades(3_000, 7);
  const task = newTask();
  task.open(0, null, 0);
  const { finals, late } = runAll(task, trades);
  assert.deepEqual(late, []);
  const expected = expectedCandles(trades);
  assert.equal(finals.length, expected.size);
  for (const c of finals) {
    assert.equal(c.isFinal, true);
    assert.deepEqual(strip(c), expected.get(`${c.symbol}@${c.windowStart}`));
  }
});

test('a trade later than the grace period is late: counted out, never merged', () => {
  const task = newTask();
  task.open(0, null, 0);
  assert.equal(task.process(0, 0, { symbol: '005930', time: T0 + 100, sequence: 1, price: 100, quantity: 1 }, 0), 'accepted');
  // Stream time moves to T0 + 1.6 s: window [T0, T0+1s) closes (end + 0.5 s grace ≤ stream time).
  assert.equal(task.process(0, 1, { symbol: '000660', time: T0 + 1_600_000, sequence: 1, price: 200, quantity: 1 }, 0), 'accepted');
  const [closed] = task.takeFinals(1);
  assert.equal(closed?.volume, 1);
  assert.equal(task.process(0, 2, { symbol: '005930', time: T0 + 900_000, sequence: 2, price: 999, quantity: 5 }, 0), 'late');
  assert.deepEqual(task.takeFinals(1), []);
});

test('a window stays open until stream time reaches end + grace, and updates show it in progress', () => {
  const task = newTask();
  task.open(0, null, 0);
  task.process(0, 0, { symbol: '005930', time: T0 + 100, sequence: 1, price: 100, quantity: 1 }, 0);
  task.process(0, 1, { symbol: '005930', time: T0 + 1_499_999, sequence: 2, price: 101, quantity: 1 }, 0);
  assert.deepEqual(task.takeFinals(1), [], 'end + grace not reached yet');
  const updates = task.takeUpdates(1);
  assert.equal(updates.length, 2, 'one update per open window');
  assert.ok(updates.every((u) => !u.isFinal));
  assert.deepEqual(task.takeUpdates(1), [], 'nothing changed since');
  task.process(0, 2, { symbol: '005930', time: T0 + 1_500_000, sequence: 3, price: 102, quantity: 1 }, 0);
  const finals = task.takeFinals(1);
  assert.equal(finals.length, 1);
  assert.equal(finals[0]?.windowStart, T0);
});

test('a quiet partition still closes its windows: idle punctuation follows the wall clock', () => {
  const task = newTask();
  task.open(0, null, 0);
  task.process(0, 0, { symbol: '005930', time: T0 + 100, sequence: 1, price: 100, quantity: 1 }, 1_000);
  assert.deepEqual(task.idleCandidates(1_500), [], 'not idle long enough (idleMs = 1000)');
  assert.deepEqual(task.idleCandidates(2_000), [{ partition: 0, nextOffset: 1 }]);
  task.punctuate(2_000, new Set([0])); // idle for 1 s: stream time advances 1 s → T0 + 1.0001 s, end + grace not reached
  assert.deepEqual(task.takeFinals(1), []);
  task.punctuate(2_500, new Set([0])); // another 0.5 s → past T0 + 1.5 s
  assert.equal(task.takeFinals(1).length, 1);
});

test('a partition that is behind its log is not idle: the wall clock does not push its stream time', () => {
  const task = newTask();
  task.open(0, null, 0);
  task.process(0, 0, { symbol: '005930', time: T0 + 100, sequence: 1, price: 100, quantity: 1 }, 1_000);
  // More input is waiting (the consumer is slow, not the market): the runtime does not confirm it idle.
  task.punctuate(60_000, new Set());
  assert.deepEqual(task.takeFinals(1), []);
  assert.equal(task.process(0, 1, { symbol: '005930', time: T0 + 200, sequence: 2, price: 101, quantity: 1 }, 60_000), 'accepted', 'its next trade is on time');
});

test('restart from any checkpoint gives exactly the finals of an uninterrupted run: no gap, no duplicate', () => {
  const trades = jitteredTrades(2_000, 11, 50);
  const reference = newTask();
  reference.open(0, null, 0);
  const { finals: referenceFinals, late: referenceLate } = runAll(reference, trades);
  const expected = referenceFinals.map(strip);
  assert.ok(referenceLate.length > 0, 'the input has late trades');

  const rng = new Random(99);
  for (let attempt = 0; attempt < 25; attempt++) {
    const crashAt = rng.int(1, trades.length);
    const before = newTask();
    before.open(0, null, 0);
    const committed: Candle[] = [];
    const committedLate: number[] = [];
    for (let i = 0; i < crashAt; i++) {
      if (before.process(0, i, trades[i] as TradeInput, 0) === 'late') committedLate.push(i);
      committed.push(...before.takeFinals(1));
    }
    // What the runtime commits in the transaction, through the offset-metadata round trip.
    const cp = before.checkpoint(0) as Checkpoint;
    const restoredCp = decodeCheckpointMetadata(cp.offset, encodeCheckpointMetadata(cp));
    assert.ok(restoredCp && restoredCp.offset <= crashAt);

    const after = newTask();
    after.open(0, restoredCp, 0);
    const resumed = runAll(after, trades.slice(restoredCp.offset), restoredCp.offset);
    assert.deepEqual([...committed, ...resumed.finals].map(strip), expected, `crash after ${crashAt} records`);
    assert.deepEqual([...committedLate, ...resumed.late], referenceLate, 'each late trade routed exactly once');
  }
});

test('no checkpoint is produced for a partition that has processed nothing', () => {
  const task = newTask();
  task.open(3, null, 0);
  assert.equal(task.checkpoint(3), null);
  assert.equal(decodeCheckpointMetadata(42, null), null, 'an offset without our metadata (e.g. reset for a replay) starts fresh');
  assert.equal(decodeCheckpointMetadata(-1, '{"v":1,"st":1,"hw":2}'), null);
});
