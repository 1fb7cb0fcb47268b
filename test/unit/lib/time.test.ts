import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kstToUtcMicros } from '../../../lib/time.js';

const utc = (iso: string) => Date.parse(iso) * 1_000;

test('a KST date and time is the UTC instant nine hours earlier, across days and months', () => {
  assert.equal(kstToUtcMicros('20230324', '112616'), utc('2023-03-24T02:26:16Z'));
  // Alternating dates, so the one-day cache is left and re-entered.
  assert.equal(kstToUtcMicros('20230325', '000000'), utc('2023-03-24T15:00:00Z'));
  assert.equal(kstToUtcMicros('20230324', '235959'), utc('2023-03-24T14:59:59Z'));
  assert.equal(kstToUtcMicros('20240301', '085959'), utc('2024-02-29T23:59:59Z'));
  assert.equal(kstToUtcMicros('20240301', '090000'), utc('2024-03-01T00:00:00Z'));
});

test('a time or date that is not all digits gives NaN, not a wrong instant', () => {
  assert.ok(Number.isNaN(kstToUtcMicros('20230324', '11261')));
  assert.ok(Number.isNaN(kstToUtcMicros('20230324', '11:26:')));
  assert.ok(Number.isNaN(kstToUtcMicros('20230324', '1126a6')));
  assert.ok(Number.isNaN(kstToUtcMicros('2023032', '112616')));
  assert.ok(Number.isNaN(kstToUtcMicros('2023xx24', '112616')));
  assert.equal(kstToUtcMicros('20230324', '112616'), utc('2023-03-24T02:26:16Z'));
});
