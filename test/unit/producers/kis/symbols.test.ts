import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../../../lib/logger.js';
import { parseSymbolsText, SymbolSource } from '../../../../producers/kis/symbols.js';
import { waitFor } from '../../../helpers/wait.js';

const quiet = createLogger('test', { destination: new Writable({ write: (_c, _e, cb) => cb() }) });

test('symbols files: commas, spaces, newlines and comments; invalid codes are set aside', () => {
  assert.deepEqual(parseSymbolsText('005930, 000660\n# large caps\n035420 0001A0 # tail comment\nbad 12345 005930\r\n'), {
    symbols: ['005930', '000660', '035420', '0001A0'],
    invalid: ['bad', '12345'],
  });
});

test('the file is re-read when it changes, also when it is replaced by a rename', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kis-symbols-'));
  const file = join(dir, 'symbols.txt');
  try {
    writeFileSync(file, '000660\n035420\n');
    const source = new SymbolSource(['005930'], file, 50, quiet);
    assert.deepEqual(source.current(), ['005930', '000660', '035420']);
    const seen: string[][] = [];
    source.watch((list) => seen.push(list));
    writeFileSync(file, '000660\n035720\n005930\n');
    await waitFor('first change', () => (seen.length >= 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    assert.deepEqual(seen[0], ['005930', '000660', '035720']);
    writeFileSync(`${file}.new`, '105560\n');
    renameSync(`${file}.new`, file);
    await waitFor('second change', () => (seen.length >= 2 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    assert.deepEqual(seen[1], ['005930', '105560']);
    rmSync(file);
    await waitFor('file removed', () => (seen.length >= 3 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    assert.deepEqual(seen[2], ['005930'], 'a missing file is an empty list; KIS_SYMBOLS stay');
    source.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
