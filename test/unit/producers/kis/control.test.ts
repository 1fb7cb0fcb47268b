import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerPolicy, parseControl } from '../../../../producers/kis/control.js';

test('each answer code of the reference has a policy; unknown codes are their own', () => {
  const sub = (c: string) => answerPolicy(c, 'subscribe', '1', '');
  assert.deepEqual(
    ['OPSP0000', 'OPSP0002', 'OPSP0007', 'OPSP0008', 'OPSP0009', 'OPSP0010', 'OPSP0011', 'OPSP8991', 'OPSP8992', 'OPSP8996', 'OPSP9999', 'OPSP4242'].map(sub),
    ['done', 'done', 'retry', 'capacity', 'give-up', 'give-up', 'approval', 'give-up', 'give-up', 'slot-held', 'retry', 'unknown'],
  );
  assert.equal(answerPolicy('OPSP0001', 'unsubscribe', '0', 'UNSUBSCRIBE SUCCESS'), 'done');
  assert.equal(answerPolicy('OPSP0003', 'unsubscribe', '1', ''), 'done');
  assert.equal(answerPolicy('OPSP0005', 'unsubscribe', '0', 'UNSUBSCRIBED'), 'done', 'clients check only the UNSUB prefix');
});

test('an answer with "tr_id":"(null)" names no request', () => {
  const m = parseControl('{"header":{"tr_id":"(null)","tr_key":""},"body":{"rt_cd":"9","msg_cd":"OPSP8996","msg1":"ALREADY IN USE appkey"}}');
  assert.equal(m.kind, 'ack');
  if (m.kind !== 'ack') return;
  assert.equal(m.trId, undefined);
  assert.equal(m.trKey, undefined);
  assert.equal(m.msgCd, 'OPSP8996');
});
