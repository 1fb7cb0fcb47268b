import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandSqlMacros, interpolateVariables, rfc3339Nano } from '../../helpers/grafana.js';

// The dashboard test is only as good as its emulation of Grafana: pin the emulation down.
test('variables are filled in the way Grafana SQL datasources do', () => {
  assert.equal(interpolateVariables("WHERE symbol = '$symbol'", { symbol: "O'Neil" }), "WHERE symbol = 'O''Neil'");
  assert.equal(interpolateVariables('WHERE symbol IN (${symbols})', { symbols: ['005930', '000660'] }), "WHERE symbol IN ('005930','000660')");
  assert.equal(interpolateVariables('$__timeFilter(ts)', { symbol: 'x' }), '$__timeFilter(ts)');
});

test('SQL macros expand like the PostgreSQL datasource backend; unknown macros fail', () => {
  const range = { from: new Date('2026-11-22T01:00:00.000Z'), to: new Date('2026-11-22T01:15:00.500Z') };
  assert.equal(rfc3339Nano(range.from), '2026-11-22T01:00:00Z');
  assert.equal(rfc3339Nano(range.to), '2026-11-22T01:15:00.5Z');
  assert.equal(expandSqlMacros('WHERE $__timeFilter(ts)', range, 1000), "WHERE ts BETWEEN '2026-11-22T01:00:00Z' AND '2026-11-22T01:15:00.5Z'");
  assert.equal(expandSqlMacros("SELECT $__timeGroupAlias(ts, '1m')", range, 1000), 'SELECT floor(extract(epoch from ts)/60)*60 AS "time"');
  assert.throws(() => expandSqlMacros('$__nope(ts)', range, 1000), /unknown macro/);
});
