import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAppError } from '../../../../lib/errors.js';
import { Spool } from '../../../../producers/kis/spool.js';

const dir = () => mkdtempSync(join(tmpdir(), 'kis-spool-'));
const rec = (i: number) => Buffer.from(`record-${i}-${'x'.repeat(i % 50)}`);
const segments = (d: string) => readdirSync(d).filter((f) => f.endsWith('.spool')).sort();
const readAll = (s: Spool) => s.read(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

test('records come back in append order across segments; acknowledging deletes whole segments only', () => {
  const d = dir();
  const spool = Spool.open({ dir: d, maxBytes: 1e9, segmentBytes: 1_000 });
  assert.ok(spool.isEmpty);
  const positions = spool.append(Array.from({ length: 100 }, (_, i) => rec(i)));
  assert.equal(positions.length, 100);
  assert.ok(segments(d).length > 3, `rolled into ${segments(d).length} segments`);
  const first = spool.read(30, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(first.map((r) => r.payload.toString()), Array.from({ length: 30 }, (_, i) => rec(i).toString()));
  spool.append([rec(100), rec(101)]);
  const rest = readAll(spool);
  assert.deepEqual(rest.map((r) => r.payload.toString()), Array.from({ length: 72 }, (_, i) => rec(i + 30).toString()));
  assert.equal(spool.hasUnread, false);

  const before = segments(d).length;
  const bytesBefore = spool.bytes;
  spool.ack((first.at(-1) as (typeof first)[number]).end);
  assert.ok(segments(d).length < before, 'segments wholly acknowledged are deleted');
  assert.ok(spool.bytes < bytesBefore);
  spool.ack((rest.at(-1) as (typeof rest)[number]).end);
  assert.equal(segments(d).length, 1, 'the segment still being written stays');
  spool.clear();
  assert.deepEqual(segments(d), []);
  assert.equal(spool.bytes, 0);
  assert.ok(spool.isEmpty);
  spool.close();
});

test('a restarted spool reads what the last run left and did not acknowledge, before what it appends, in a new segment', () => {
  const d = dir();
  const a = Spool.open({ dir: d, maxBytes: 1e9, segmentBytes: 10_000 });
  a.append([rec(0), rec(1), rec(2)]);
  const [acked] = a.read(1, Number.MAX_SAFE_INTEGER);
  a.ack((acked as NonNullable<typeof acked>).end); // rec(0) reached Kafka: not read again
  a.read(1, Number.MAX_SAFE_INTEGER); // rec(1) read but never acknowledged: read again after a crash
  // no close(): as after SIGKILL, the lock names a dead process's pid
  writeFileSync(join(d, 'LOCK'), '999999999');
  const b = Spool.open({ dir: d, maxBytes: 1e9, segmentBytes: 10_000 });
  assert.equal(b.isEmpty, false);
  b.append([rec(3)]);
  assert.equal(segments(d).length, 2, 'appends go to a new segment');
  assert.deepEqual(readAll(b).map((r) => r.payload.toString()), [rec(1), rec(2), rec(3)].map(String));
  b.close();
  a.close();
});

test('a torn tail after a crash (a record cut short, or failing its checksum) is dropped and counted; what follows is read', () => {
  for (const tear of ['cut', 'garbled'] as const) {
    const d = dir();
    const a = Spool.open({ dir: d, maxBytes: 1e9, segmentBytes: 1e6 });
    a.append([rec(1), rec(2), rec(3)]);
    const [seg] = segments(d);
    const path = join(d, seg as string);
    if (tear === 'cut') {
      // A crash in the middle of a write: the header and part of the payload reached the file.
      const header = Buffer.alloc(8);
      header.writeUInt32LE(500, 0);
      appendFileSync(path, Buffer.concat([header, Buffer.alloc(100, 7)]));
    } else {
      const bytes = readFileSync(path);
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 2) ^ 0xff, bytes.length - 2); // the last record's payload
      writeFileSync(path, bytes);
    }
    writeFileSync(join(d, 'LOCK'), '999999999');
    const b = Spool.open({ dir: d, maxBytes: 1e9, segmentBytes: 1e6 });
    b.append([rec(4)]);
    const got = readAll(b).map((r) => r.payload.toString());
    assert.deepEqual(got, (tear === 'cut' ? [rec(1), rec(2), rec(3), rec(4)] : [rec(1), rec(2), rec(4)]).map(String), tear);
    assert.equal(b.tornRecords, 1, tear);
    b.close();
    a.close();
  }
});

test('appends beyond the size limit are refused; acknowledging frees room again', () => {
  const d = dir();
  const one = 8 + rec(0).length;
  const spool = Spool.open({ dir: d, maxBytes: one * 10, segmentBytes: one * 3 });
  const written = spool.append(Array.from({ length: 15 }, () => rec(0)));
  assert.equal(written.length, 10, 'ten fit');
  assert.equal(spool.append([rec(0)]).length, 0);
  const read = spool.read(4, Number.MAX_SAFE_INTEGER);
  spool.ack((read.at(-1) as (typeof read)[number]).end);
  assert.equal(spool.bytes, one * 7, 'the first segment (3 records) is deleted; the 4th record shares a segment with unread ones');
  assert.equal(spool.append([rec(0), rec(0), rec(0), rec(0)]).length, 3);
  spool.close();
});

test('a spool directory in use by a live process is refused; a dead owner is taken over', () => {
  const d = dir();
  const a = Spool.open({ dir: d, maxBytes: 1e6, segmentBytes: 1e5 });
  writeFileSync(join(d, 'LOCK'), String(process.ppid)); // another live process
  assert.throws(() => Spool.open({ dir: d, maxBytes: 1e6, segmentBytes: 1e5 }), (err) => isAppError(err, 'CONFIG_INVALID'));
  writeFileSync(join(d, 'LOCK'), '999999999');
  const b = Spool.open({ dir: d, maxBytes: 1e6, segmentBytes: 1e5 });
  assert.equal(readFileSync(join(d, 'LOCK'), 'utf8'), String(process.pid));
  b.close();
  a.close();
});
