import { createDecipheriv } from 'node:crypto';
import { AppError } from '../../lib/errors.js';

/** The key and iv of a subscription ack: a 32-character key (AES-256) and a 16-character iv, as text. */
export interface KisCipher {
  key: string;
  iv: string;
}

/**
 * Decrypts the payload of an encrypted data frame (`1|tr_id|count|<base64>`): AES-256-CBC with PKCS7
 * padding, key and iv being the UTF-8 bytes of the ack's strings, as the broker's sample code does.
 */
export function decryptPayload(base64: string, cipher: KisCipher): string {
  const key = Buffer.from(cipher.key, 'utf8');
  const iv = Buffer.from(cipher.iv, 'utf8');
  if (key.length !== 32 || iv.length !== 16) {
    throw new AppError('DECODE_FAILED', `ack cipher has a ${key.length}-byte key and a ${iv.length}-byte iv (expected 32 and 16)`);
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw new AppError('DECODE_FAILED', 'encrypted payload is not base64');
  }
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    return Buffer.concat([decipher.update(Buffer.from(base64, 'base64')), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new AppError('DECODE_FAILED', `encrypted payload does not decrypt with the ack's key: ${(err as Error).message}`, { cause: err });
  }
}
