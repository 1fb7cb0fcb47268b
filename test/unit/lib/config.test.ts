import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig, describeConfig, loadConfig } from '../../../lib/config.js';
import { isAppError } from '../../../lib/errors.js';

const spec = defineConfig({
  brokers: { env: 'BROKERS', type: 'list', default: ['127.0.0.1:9092'], itemPattern: /^[^\s:]+:\d+$/, doc: 'brokers' },
  rate: { env: 'RATE', type: 'number', default: 10, min: 0, doc: 'rate' },
  symbols: { env: 'SYMBOLS', type: 'int', min: 1, max: 100, doc: 'symbol count' },
  mode: { env: 'MODE', type: 'enum', values: ['always', 'krx'] as const, default: 'always', doc: 'mode' },
  verbose: { env: 'VERBOSE', type: 'bool', default: false, doc: 'verbose' },
  url: { env: 'URL', type: 'url', default: 'http://localhost:1/', doc: 'url' },
  password: { env: 'PASSWORD', type: 'optional-string', secret: true, doc: 'password' },
  token: { env: 'TOKEN', type: 'string', secret: true, pattern: /^[a-z]+$/, default: 'abc', doc: 'token' },
});

test('defaults apply and values are typed and frozen', () => {
  const c = loadConfig(spec, { SYMBOLS: '5' });
  assert.deepEqual([...c.brokers], ['127.0.0.1:9092']);
  assert.equal(c.rate, 10);
  assert.equal(c.symbols, 5);
  assert.equal(c.mode, 'always');
  assert.equal(c.verbose, false);
  assert.equal(c.url, 'http://localhost:1', 'trailing slash removed');
  assert.equal(c.password, undefined);
  assert.ok(Object.isFrozen(c));
});

test('every problem is reported at once', () => {
  let caught: unknown;
  try {
    loadConfig(spec, { BROKERS: 'a:1,nope', RATE: 'fast', MODE: 'weekend', VERBOSE: 'maybe', URL: 'not a url' });
  } catch (err) {
    caught = err;
  }
  assert.ok(isAppError(caught, 'CONFIG_INVALID'));
  const problems = caught.context['problems'] as string[];
  assert.equal(problems.length, 6, problems.join('\n'));
  const text = caught.message;
  for (const key of ['BROKERS', 'RATE', 'SYMBOLS: required', 'MODE', 'VERBOSE', 'URL']) assert.match(text, new RegExp(key));
});

test('ranges are enforced', () => {
  assert.throws(() => loadConfig(spec, { SYMBOLS: '0' }), /SYMBOLS: 0 is below the minimum 1/);
  assert.throws(() => loadConfig(spec, { SYMBOLS: '1.5' }), /SYMBOLS: "1.5" is not an integer/);
  assert.throws(() => loadConfig(spec, { SYMBOLS: '101' }), /above the maximum 100/);
});

test('secrets are never echoed, in errors or in the config dump', () => {
  assert.throws(
    () => loadConfig(spec, { SYMBOLS: '1', TOKEN: 'SuperSecret123' }),
    (err: Error) => !err.message.includes('SuperSecret123') && /TOKEN: <redacted>/.test(err.message),
  );
  const c = loadConfig(spec, { SYMBOLS: '1', PASSWORD: 'hunter2' });
  const shown = JSON.stringify(describeConfig(spec, c));
  assert.ok(!shown.includes('hunter2'));
  assert.match(shown, /"password":"<redacted>"/);
});
