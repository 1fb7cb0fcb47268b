import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ListingsState } from '../../../../producers/krx/listings.js';
import type { Stock } from '../../../../schemas/generated/types.js';

const stock = (code: string, extra: Partial<Stock> = {}): Stock => ({
  code, isin: `KR7${code}003`, name: `n${code}`, fullName: `n${code}보통주`, englishName: `N${code}`, market: 'KOSPI', sector: null, industry: null,
  securityGroup: '주권', stockKind: '보통주', parValue: 100, listedShares: 1000, listingDate: 10_000, delisted: false, delistedDate: null,
  source: 'KRX_DATA', updatedAt: 1, ...extra,
});

test('the first poll publishes everything; an unchanged poll publishes nothing; a change publishes that stock', () => {
  const state = new ListingsState();
  const first = state.update([stock('000010'), stock('000020')], 20_000, 5, 0.9);
  assert.deepEqual([first.added, first.changed, first.delisted, first.publish.length], [2, 0, 0, 2]);
  const same = state.update([stock('000010', { updatedAt: 9 }), stock('000020', { updatedAt: 9 })], 20_001, 9, 0.9);
  assert.equal(same.publish.length, 0, 'updatedAt alone is no change');
  const changed = state.update([stock('000010', { listedShares: 2000 }), stock('000020')], 20_002, 10, 0.9);
  assert.deepEqual(changed.publish.map((s) => [s.code, s.listedShares]), [['000010', 2000]]);
});

test('a stock that disappears is published once as delisted with the poll date, and stays known', () => {
  const state = new ListingsState();
  const codes = Array.from({ length: 20 }, (_, i) => String(i * 10).padStart(6, '0'));
  state.update(codes.map((c) => stock(c)), 20_000, 1, 0.9);
  const gone = state.update(codes.slice(1).map((c) => stock(c)), 20_005, 2, 0.9);
  assert.deepEqual(gone.publish, [{ ...stock(codes[0] as string), delisted: true, delistedDate: 20_005, updatedAt: 2 }]);
  assert.equal(state.size, 20);
  assert.equal(state.update(codes.slice(1).map((c) => stock(c)), 20_006, 3, 0.9).publish.length, 0, 'not delisted twice');
  const back = state.update(codes.map((c) => stock(c)), 20_007, 4, 0.9);
  assert.deepEqual(back.publish.map((s) => [s.code, s.delisted]), [[codes[0], false]], 'relisted');
});

test('a poll far smaller than what is known delists nothing (a broken answer must not wipe the market)', () => {
  const state = new ListingsState();
  state.update(Array.from({ length: 100 }, (_, i) => stock(String(i).padStart(6, '0'))), 20_000, 1, 0.9);
  const small = state.update([stock('000001')], 20_001, 2, 0.9);
  assert.equal(small.delisted, 0);
  assert.match(small.distrusted ?? '', /returned 1 listings for 100 known: not delisting 99/);
});

test('state replayed from the topic: the restarted poller knows delisted stocks and does not re-add them', () => {
  const state = new ListingsState();
  state.remember(stock('000010'));
  state.remember(stock('000020', { delisted: true, delistedDate: 19_000 }));
  const u = state.update([stock('000010')], 20_000, 2, 0.9);
  assert.deepEqual([u.added, u.changed, u.delisted], [0, 0, 0]);
});
