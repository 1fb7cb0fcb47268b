import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../../../lib/config.js';
import { isAppError } from '../../../../lib/errors.js';
import { KIS_ENDPOINTS, kisConfigSpec, resolveKisSettings } from '../../../../producers/kis/config.js';

const load = (env: Record<string, string>) => resolveKisSettings(loadConfig(kisConfigSpec, env));

test('keys and secrets pair up in order; the account picks the endpoints; overrides win', () => {
  const s = load({ KIS_APP_KEYS: 'k1,k2', KIS_APP_SECRETS: 's1,s2', KIS_SYMBOLS: '005930' });
  assert.deepEqual(s.credentials, [{ appKey: 'k1', appSecret: 's1' }, { appKey: 'k2', appSecret: 's2' }]);
  assert.equal(s.restUrl, KIS_ENDPOINTS.real.rest);
  assert.equal(s.wsUrl, 'ws://ops.koreainvestment.com:21000');
  assert.deepEqual(s.trs, ['H0UNCNT0', 'H0UNASP0'], 'all trading of a symbol (KRX and NXT) by default');
  const v = load({ KIS_APP_KEYS: 'k1', KIS_APP_SECRETS: 's1', KIS_SYMBOLS: '005930', KIS_ACCOUNT: 'virtual' });
  assert.deepEqual(v.trs, ['H0STCNT0', 'H0STASP0'], 'virtual accounts get no integrated feed');
  assert.deepEqual(load({ KIS_APP_KEYS: 'k1', KIS_APP_SECRETS: 's1', KIS_SYMBOLS: '005930', KIS_TRS: 'H0STCNT0,H0NXCNT0' }).trs, ['H0STCNT0', 'H0NXCNT0']);
  assert.throws(() => load({ KIS_APP_KEYS: 'k1', KIS_APP_SECRETS: 's1', KIS_SYMBOLS: '005930', KIS_TRS: 'H0NXCNT0,H0UNCNT0' }), /every NXT trade twice/);
  assert.equal(v.restUrl, 'https://openapivts.koreainvestment.com:29443');
  assert.equal(v.wsUrl, 'ws://ops.koreainvestment.com:31000');
  const o = load({ KIS_APP_KEYS: 'k1', KIS_APP_SECRETS: 's1', KIS_SYMBOLS_FILE: '/tmp/x', KIS_REST_URL: 'http://127.0.0.1:1/', KIS_WS_URL: 'ws://127.0.0.1:2' });
  assert.equal(o.restUrl, 'http://127.0.0.1:1');
  assert.equal(o.wsUrl, 'ws://127.0.0.1:2');
});

test('every cross-field problem is listed at once, and no secret is echoed', () => {
  let caught: unknown;
  try {
    load({ KIS_APP_KEYS: 'APPKEY-ONE,APPKEY-TWO', KIS_APP_SECRETS: 'SECRET-ONE', KIS_ACCOUNT: 'virtual', KIS_TRS: 'H0STCNT0,H0UNCNT0', KIS_WS_URL: 'http://x' });
  } catch (err) {
    caught = err;
  }
  assert.ok(isAppError(caught, 'CONFIG_INVALID'));
  const message = caught.message;
  for (const expected of [/KIS_APP_KEYS has 2 key\(s\) but KIS_APP_SECRETS has 1/, /KIS_WS_URL/, /twice/, /real accounts only/, /no symbol/]) {
    assert.match(message, expected);
  }
  for (const secret of ['APPKEY-ONE', 'APPKEY-TWO', 'SECRET-ONE']) assert.ok(!message.includes(secret), `${secret} echoed`);
});

test('loadConfig refuses unknown TR ids and bad symbols with the secrets redacted', () => {
  assert.throws(
    () => loadConfig(kisConfigSpec, { KIS_APP_KEYS: 'k', KIS_APP_SECRETS: 's', KIS_TRS: 'H0STCNI0', KIS_SYMBOLS: '5930', KIS_MAX_REGISTRATIONS: '0' }),
    (err: unknown) => isAppError(err, 'CONFIG_INVALID') && /KIS_TRS/.test(err.message) && /KIS_SYMBOLS/.test(err.message) && /KIS_MAX_REGISTRATIONS/.test(err.message),
  );
  assert.throws(() => loadConfig(kisConfigSpec, {}), (err: unknown) => isAppError(err, 'CONFIG_INVALID') && /KIS_APP_KEYS: required/.test(err.message) && /KIS_APP_SECRETS: required/.test(err.message));
});
