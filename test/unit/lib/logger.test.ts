import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../../lib/logger.js';

test('credentials are censored at any of the first nesting levels', async () => {
  let out = '';
  const sink = new Writable({ write(chunk, _enc, cb) { out += chunk.toString(); cb(); } });
  const logger = createLogger('test', { destination: sink });
  logger.info({ appKey: 'PSxKEY1', appSecret: 'SECRETxyz', session: { approvalKey: 'approval-123', password: 'pw1' } }, 'connecting');
  logger.child({ component: 'kis' }).warn({ request: { body: { secretkey: 'SK-999' } } }, 'approval');
  await new Promise((r) => setImmediate(r));
  for (const secret of ['PSxKEY1', 'SECRETxyz', 'approval-123', 'pw1', 'SK-999']) {
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  }
  assert.match(out, /"service":"test"/);
  assert.equal((out.match(/<redacted>/g) ?? []).length, 5);
});
