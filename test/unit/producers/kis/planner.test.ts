import assert from 'node:assert/strict';
import { test } from 'node:test';
import { regKey, SessionPlanner, wantedRegistrations, type Plan } from '../../../../producers/kis/planner.js';

const symbols = (n: number, from = 0) => Array.from({ length: n }, (_, i) => String(100_000 + from + i).slice(1).padStart(6, '0'));
const TRS = ['H0STCNT0', 'H0STASP0'];

function placed(plan: Plan): string[] {
  return plan.sessions.flat().map(regKey).sort();
}

test('100 symbols × 2 TRs over 5 app keys: at most 41 per session, nothing dropped (ceil(200 / 41) = 5)', () => {
  const wanted = wantedRegistrations(symbols(100), TRS);
  assert.equal(wanted.length, 200);
  const plan = new SessionPlanner(5, 41).plan(wanted);
  assert.deepEqual(plan.sessions.map((s) => s.length), [40, 40, 40, 40, 40]);
  assert.deepEqual(plan.unplaced, []);
  assert.deepEqual(placed(plan), wanted.map(regKey).sort());
});

test('100 symbols × 1 TR over 3 app keys: at most 41 per session, nothing dropped', () => {
  const wanted = wantedRegistrations(symbols(100), ['H0STCNT0']);
  const plan = new SessionPlanner(3, 41).plan(wanted);
  assert.ok(plan.sessions.every((s) => s.length <= 41));
  assert.deepEqual(plan.sessions.map((s) => s.length), [34, 33, 33]);
  assert.deepEqual(plan.unplaced, []);
  assert.deepEqual(placed(plan), wanted.map(regKey).sort());
});

test('100 symbols × 2 TRs over 3 app keys is too many: 3 × 41 placed, the other 77 reported, none lost', () => {
  const wanted = wantedRegistrations(symbols(100), TRS);
  const plan = new SessionPlanner(3, 41).plan(wanted);
  assert.deepEqual(plan.sessions.map((s) => s.length), [41, 41, 41]);
  assert.equal(plan.unplaced.length, 77);
  assert.deepEqual([...placed(plan), ...plan.unplaced.map(regKey)].sort(), wanted.map(regKey).sort());
});

test('re-planning is stable: kept registrations stay in their session, removed ones free room for new ones', () => {
  const planner = new SessionPlanner(3, 41);
  const first = planner.plan(wantedRegistrations(symbols(60), ['H0STCNT0']));
  const where = new Map(first.sessions.flatMap((s, i) => s.map((r) => [regKey(r), i] as const)));
  // Remove the first 20 symbols, add 50 new ones: 90 in all.
  const second = planner.plan(wantedRegistrations([...symbols(40, 20), ...symbols(50, 500)], ['H0STCNT0']));
  for (const [i, s] of second.sessions.entries()) {
    for (const r of s) {
      const before = where.get(regKey(r));
      if (before !== undefined) assert.equal(before, i, `${regKey(r)} moved`);
    }
  }
  assert.deepEqual(second.sessions.map((s) => s.length), [30, 30, 30]);
  assert.deepEqual(second.unplaced, []);
  // Over the top, then back under it: what was reported is placed again.
  const over = planner.plan(wantedRegistrations(symbols(130), ['H0STCNT0']));
  assert.equal(over.unplaced.length, 130 - 123);
  const under = planner.plan(wantedRegistrations(symbols(120), ['H0STCNT0']));
  assert.deepEqual(under.unplaced, []);
  assert.equal(placed(under).length, 120);
});

test('MAX SUBSCRIBE OVER lowers the session limit to what it holds and moves the refused registration', () => {
  const planner = new SessionPlanner(3, 41);
  const wanted = wantedRegistrations(symbols(100), ['H0STCNT0']);
  const plan = planner.plan(wanted);
  const refused = plan.sessions[0]?.[33];
  assert.ok(refused);
  // The server took 33 in session 0 and refused the 34th.
  const next = planner.lowerCapacity(0, 33, refused);
  assert.equal(planner.capacity(0), 33);
  assert.equal(next.sessions[0]?.length, 33);
  assert.ok(!next.sessions[0]?.some((r) => regKey(r) === regKey(refused)), 'not offered to the same session again');
  assert.deepEqual([...placed(next), ...next.unplaced.map(regKey)].sort(), wanted.map(regKey).sort());
  assert.deepEqual(next.sessions.map((s) => s.length), [33, 34, 33]);
  // Every session turns out to hold 33: one registration is left over and reported.
  planner.lowerCapacity(1, 33, next.sessions[1]?.[33] as never);
  const last = planner.lowerCapacity(2, 33, { trId: 'H0STCNT0', trKey: 'none00' });
  assert.deepEqual(last.sessions.map((s) => s.length), [33, 33, 33]);
  assert.equal(last.unplaced.length, 1);
});

test('duplicate symbols are registered once', () => {
  assert.deepEqual(wantedRegistrations(['005930', '005930', '000660'], ['H0STCNT0']).map(regKey), ['H0STCNT0|005930', 'H0STCNT0|000660']);
});

test("a stock's TRs share a session while it has room", () => {
  const plan = new SessionPlanner(3, 41).plan(wantedRegistrations(symbols(30), TRS));
  for (const s of plan.sessions) {
    const stocks = new Set(s.map((r) => r.trKey));
    for (const stock of stocks) assert.equal(s.filter((r) => r.trKey === stock).length, 2, `${stock} split across sessions`);
  }
  assert.deepEqual(plan.sessions.map((s) => s.length), [20, 20, 20]);
});
