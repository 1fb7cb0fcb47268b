import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startService } from '../../helpers/service-process.js';
import { ACCOUNTS } from './helpers.js';

test('a misconfigured producer stops at start-up with every problem listed and no secret echoed (exit 78)', async () => {
  const [a, b] = ACCOUNTS as [(typeof ACCOUNTS)[number], (typeof ACCOUNTS)[number]];
  // Each field is valid on its own; together they break four rules.
  const producer = startService('producers/kis/main.js', {
    KIS_APP_KEYS: `${a.appKey},${b.appKey}`,
    KIS_APP_SECRETS: a.appSecret,
    KIS_ACCOUNT: 'virtual',
    KIS_TRS: 'H0STCNT0,H0UNCNT0',
    KIS_WS_URL: 'http://not-a-websocket',
    KIS_SYMBOLS: '005930',
  });
  assert.equal(await producer.exited, 78);
  const out = producer.output();
  for (const problem of [/KIS_APP_KEYS has 2 key\(s\) but KIS_APP_SECRETS has 1/, /KIS_WS_URL/, /twice/, /real accounts only/]) assert.match(out, problem);
  for (const secret of [a.appKey, b.appKey, a.appSecret]) assert.ok(!out.includes(secret), 'secret echoed');

  const bad = startService('producers/kis/main.js', { KIS_TRS: 'H0STCNI0', KIS_SYMBOLS: '5930', KIS_MAX_REGISTRATIONS: '0' });
  assert.equal(await bad.exited, 78);
  for (const problem of [/KIS_APP_KEYS: required/, /KIS_APP_SECRETS: required/, /KIS_TRS/, /KIS_SYMBOLS/, /KIS_MAX_REGISTRATIONS/]) assert.match(bad.output(), problem);
});
