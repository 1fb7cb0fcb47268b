import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCheckpoint, remainingDays, weekdays, writeCheckpoint } from '../../../../producers/krx/checkpoint.js';
import { epochDayToIso, isoToEpochDay } from '../../../../lib/time.js';

const d = isoToEpochDay;

test('weekdays skip Saturdays and Sundays only (holidays come from the data)', () => {
  assert.deepEqual(weekdays(d('2026-11-27'), d('2026-12-01')).map(epochDayToIso), ['2026-11-27', '2026-11-30', '2026-12-01']);
  assert.equal(weekdays(d('2021-12-01'), d('2026-11-30')).length, 1304, 'five years: ≈ 1,250 requests once holidays drop out');
});

test('a resumed run starts after doneThrough and retries the days it left failed; another plan starts over', () => {
  const plan = { source: 'KRX_DATA', from: d('2026-11-02'), to: d('2026-11-13') };
  const saved = { version: 1 as const, ...plan, doneThrough: d('2026-11-06'), holidays: [], failed: [d('2026-11-04')], bars: 9 };
  const { days, checkpoint } = remainingDays(plan, saved);
  assert.deepEqual(days.map(epochDayToIso), ['2026-11-04', '2026-11-09', '2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13']);
  assert.equal(checkpoint.doneThrough, saved.doneThrough);
  assert.equal(remainingDays(plan, { ...saved, doneThrough: plan.to, failed: [] }).days.length, 0, 'complete: nothing to fetch');
  assert.equal(remainingDays(plan, { ...saved, source: 'KRX_OPENAPI' }).days.length, 10);
  assert.equal(remainingDays({ ...plan, from: d('2026-10-26') }, saved).days.length, 15, 'an earlier start is a new backfill');
  assert.deepEqual(remainingDays({ ...plan, to: d('2026-11-20') }, { ...saved, failed: [] }).days.length, 10, 'a later end adds the new days');
});

test('checkpoints are written whole (temp file + rename) and read back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'krx-cp-'));
  const file = join(dir, 'sub', 'cp.json');
  assert.equal(readCheckpoint(file), null);
  const cp = { version: 1 as const, source: 'KRX_DATA', from: 1, to: 9, doneThrough: 4, holidays: [3], failed: [], bars: 12 };
  writeCheckpoint(file, cp);
  assert.deepEqual(readCheckpoint(file), cp);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['cp.json']);
});
