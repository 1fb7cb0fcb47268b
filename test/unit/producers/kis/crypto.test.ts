import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { decryptPayload } from '../../../../producers/kis/crypto.js';
import { parseDataFrame, reasonOf } from '../../../../producers/kis/frame.js';
import { readTick } from '../../../../producers/kis/records.js';

/** The iv and key of the reference's ack. */
const ACK = { iv: '55ce3d099479ce11', key: 'tvldhmfplvgcovaqrspclzhdotfzzequ' };
const RECORD = '005930^112616^62700^2^400^0.64^62700.41^62700^63000^62300^62700^62600^125^9694968^607878273600^25807^15918^-9889^93.01^4614191^4291558^1^0.45^63.03^090013^3^0^090646^5^-300^100741^2^400^20230324^20^N^71292^244009^2795345^2044512^0.16^5367918^180.61^0^^62700';

/** What KIS does (the broker's sample: AES.new(key.encode, AES.MODE_CBC, iv.encode), PKCS7, base64). */
function kisEncrypt(plain: string, key: string, iv: string): string {
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(key, 'utf8'), Buffer.from(iv, 'utf8'));
  return Buffer.concat([cipher.update(Buffer.from(plain, 'utf8')), cipher.final()]).toString('base64');
}

test('an encrypted payload decrypts with the ack key and iv to the exact plain text', () => {
  const plain = `${RECORD}^${RECORD}`;
  assert.equal(decryptPayload(kisEncrypt(plain, ACK.key, ACK.iv), ACK), plain);
  const korean = '체결^삼성전자^-1';
  assert.equal(decryptPayload(kisEncrypt(korean, ACK.key, ACK.iv), ACK), korean);
});

test('an encrypted data frame (enc 1) parses like its plain twin', () => {
  const frame = parseDataFrame(`1|H0STCNT0|001|${kisEncrypt(RECORD, ACK.key, ACK.iv)}`, (trId) => (trId === 'H0STCNT0' ? ACK : undefined));
  assert.equal(frame.encrypted, true);
  assert.equal(frame.fields.length, 46);
  assert.equal(readTick(frame.fields, 0, 0 + 1_700_000_000_000_000).cumulativeVolume, 9_694_968);
});

test('a payload encrypted with another key, or not base64, is a decrypt error', () => {
  const other = { iv: 'ffffffffffffffff', key: 'abcdefghijklmnopqrstuvwxyzabcdef' };
  const wrong = `1|H0STCNT0|001|${kisEncrypt(RECORD, other.key, other.iv)}`;
  const notBase64 = '1|H0STCNT0|001|%%%';
  for (const text of [wrong, notBase64]) {
    assert.throws(() => parseDataFrame(text, () => ACK), (err: unknown) => isAppError(err, 'DECODE_FAILED') && reasonOf(err) === 'decrypt');
  }
  assert.throws(() => decryptPayload('AAAA', { iv: 'short', key: ACK.key }), /16/);
});
