import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startService } from '../../helpers/service-process.js';

test('a misconfigured service stops at start-up with exit code 78 and every problem listed', async () => {
  const svc = startService('stream-processors/candles/main.js', {
    KAFKA_BROKERS: 'no-port-here',
    CANDLE_GRACE_MS: 'soon',
    COMMIT_INTERVAL_MS: '1',
    SCHEMA_REGISTRY_URL: 'not a url',
  });
  const code = await svc.exited;
  assert.equal(code, 78);
  const out = svc.output();
  for (const problem of ['KAFKA_BROKERS', 'CANDLE_GRACE_MS: "soon" is not an integer', 'COMMIT_INTERVAL_MS: 1 is below the minimum 10', 'SCHEMA_REGISTRY_URL']) {
    assert.ok(out.includes(problem), `missing "${problem}" in:\n${out}`);
  }
});
