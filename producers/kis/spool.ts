import { closeSync, fsync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeFileSync, writeSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { AppError } from '../../lib/errors.js';

/** Where a record ends: acknowledging it frees every segment before `segment`. */
export interface SpoolPosition {
  segment: number;
  offset: number;
}

export interface SpoolOptions {
  dir: string;
  /** Appends that would take the segments on disk past this are refused (the caller drops them). */
  maxBytes: number;
  /** A segment this large is closed and the next one started; whole segments are deleted once acknowledged. */
  segmentBytes: number;
}

/** Length (u32 LE) and CRC-32 of the payload (u32 LE) before every payload. */
const HEADER_BYTES = 8;
/** A length beyond this can only be garbage (a torn or overwritten header). */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const SEGMENT = /^seg-(\d{16})\.spool$/;
const LOCK_FILE = 'LOCK';
/** Where the acknowledged records end (segment, offset as two doubles), so a restart skips them. */
const ACKED_FILE = 'ACKED';

const segmentName = (n: number) => `seg-${String(n).padStart(16, '0')}.spool`;

interface Segment {
  n: number;
  size: number;
}

/**
 * An append-only queue of opaque records on disk, in segment files read back in order. Records are
 * length-prefixed with a CRC-32, so a record cut short or garbled by a crash (the tail of the last
 * segment written) is recognised on reading and dropped, with what follows it in that segment.
 *
 * Contract: one process owns the directory (a lock file with its pid; a dead owner's lock is taken
 * over). Every call is synchronous and writes straight to the file: a record `append` returned is in
 * the kernel and survives the process being killed; `sync()` makes it survive the machine too.
 * A restarted spool reads the old segments first and appends behind them in a new one, never into an
 * old one. Reading is ahead of acknowledging: `read` hands records out, `ack` (positions in order)
 * deletes the segments wholly behind the position and records where it is (file ACKED), so a restart
 * does not read acknowledged records again.
 */
export class Spool {
  private readonly segments: Segment[];
  private writeFd: number | null = null;
  private readFd: number | null = null;
  /** Segment number and offset of the next record to read. */
  private readSeg: number;
  private readOffset = 0;
  private readBuf = Buffer.alloc(0);
  private readBufAt = 0;
  private nextSegment: number;
  private totalBytes: number;
  private syncing: Promise<void> | null = null;
  private readonly ackedFd: number;
  private readonly ackedBuf = Buffer.alloc(16);
  private dirty = false;
  /** Records dropped because they were cut short or failed their checksum. */
  tornRecords = 0;

  private constructor(private readonly opts: SpoolOptions, found: Segment[], acked: SpoolPosition | null) {
    this.segments = found;
    this.totalBytes = found.reduce((n, s) => n + s.size, 0);
    this.nextSegment = (found.at(-1)?.n ?? 0) + 1;
    this.readSeg = found[0]?.n ?? this.nextSegment;
    this.ackedFd = openSync(join(opts.dir, ACKED_FILE), 'w');
    // What the last run had acknowledged is not read again (it would reach Kafka twice).
    const at = acked && found.find((s) => s.n === acked.segment && acked.offset <= s.size);
    if (acked && at) {
      for (const s of found.filter((f) => f.n < acked.segment)) this.remove(s);
      this.readSeg = acked.segment;
      this.readOffset = acked.offset;
      this.writeAcked(acked);
    }
  }

  static open(opts: SpoolOptions): Spool {
    mkdirSync(opts.dir, { recursive: true });
    takeLock(opts.dir);
    const found = readdirSync(opts.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => {
        const n = Number(m[1]);
        const fd = openSync(join(opts.dir, segmentName(n)), 'r');
        const size = fstatSync(fd).size;
        closeSync(fd);
        return { n, size };
      })
      .sort((a, b) => a.n - b.n);
    return new Spool(opts, found, readAcked(join(opts.dir, ACKED_FILE)));
  }

  /** Bytes of the segments on disk (records read and not yet acknowledged included). */
  get bytes(): number {
    return this.totalBytes;
  }

  get limitBytes(): number {
    return this.opts.maxBytes;
  }

  /** No segment on disk: nothing to read, nothing unacknowledged. */
  get isEmpty(): boolean {
    return this.segments.length === 0;
  }

  /** Records remain that `read` has not handed out. */
  get hasUnread(): boolean {
    const last = this.segments.at(-1);
    if (!last) return false;
    return this.readSeg < last.n || (this.readSeg === last.n && this.readOffset < last.size);
  }

  /**
   * Appends the payloads in order, as far as the size limit allows; returns how many were written
   * (the rest were refused) and the position after each written one.
   */
  append(payloads: readonly Buffer[]): SpoolPosition[] {
    const positions: SpoolPosition[] = [];
    if (payloads.length === 0) return positions;
    const chunks: Buffer[] = [];
    let seg = this.writable();
    for (const payload of payloads) {
      const size = HEADER_BYTES + payload.length;
      if (this.totalBytes + size > this.opts.maxBytes) break;
      if (seg.size > 0 && seg.size + size > this.opts.segmentBytes) {
        this.writeOut(chunks);
        seg = this.roll();
      }
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      header.writeUInt32LE(payload.length, 0);
      header.writeUInt32LE(crc32(payload), 4);
      chunks.push(header, payload);
      seg.size += size;
      this.totalBytes += size;
      positions.push({ segment: seg.n, offset: seg.size });
    }
    this.writeOut(chunks);
    return positions;
  }

  /** Hands out the next records in order: at most `maxRecords`, and stops after `maxBytes`. */
  read(maxRecords: number, maxBytes: number): Array<{ payload: Buffer; end: SpoolPosition }> {
    const out: Array<{ payload: Buffer; end: SpoolPosition }> = [];
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes && this.hasUnread) {
      const seg = this.segments.find((s) => s.n === this.readSeg);
      if (!seg) {
        // The segment read so far is gone (acknowledged and deleted) or never existed: go to the next.
        this.nextReadSegment();
        continue;
      }
      const record = this.readRecord(seg);
      if (record === 'end') {
        if (seg.n === this.segments.at(-1)?.n && this.writeFd !== null) break; // the open segment: nothing more yet
        this.nextReadSegment();
        continue;
      }
      if (record === 'torn') {
        this.tornRecords++;
        this.truncateRead(seg);
        continue;
      }
      out.push({ payload: record, end: { segment: seg.n, offset: this.readOffset } });
      bytes += record.length;
    }
    return out;
  }

  /** Marks every record written so far as read (the caller has them already). */
  skipToEnd(): void {
    const last = this.segments.at(-1);
    this.nextReadSegment();
    this.readSeg = last?.n ?? this.nextSegment;
    this.readOffset = last?.size ?? 0;
  }

  /** Every record up to `position` is safe elsewhere: deletes the segments wholly behind it. */
  ack(position: SpoolPosition): void {
    this.writeAcked(position);
    while (this.segments.length > 0) {
      const first = this.segments[0] as Segment;
      const whole = first.n < position.segment || (first.n === position.segment && position.offset >= first.size && first.n !== this.openSegment());
      if (!whole) break;
      this.remove(first);
    }
  }

  /** Deletes every segment (everything was read and acknowledged). */
  clear(): void {
    for (const s of [...this.segments]) this.remove(s);
    this.readSeg = this.nextSegment;
    this.writeAcked({ segment: 0, offset: 0 });
  }

  /** fsyncs what was appended since the last call (off the event loop); one at a time. */
  sync(): Promise<void> {
    if (this.syncing) return this.syncing;
    if (!this.dirty || this.writeFd === null) return Promise.resolve();
    this.dirty = false;
    const fd = this.writeFd;
    this.syncing = new Promise<void>((resolve) => fsync(fd, () => resolve())).finally(() => (this.syncing = null));
    return this.syncing;
  }

  close(): void {
    if (this.writeFd !== null) closeSync(this.writeFd);
    if (this.readFd !== null) closeSync(this.readFd);
    closeSync(this.ackedFd);
    this.writeFd = null;
    this.readFd = null;
    try {
      unlinkSync(join(this.opts.dir, LOCK_FILE));
    } catch {
      // already gone
    }
  }

  /** 16 bytes in place at offset 0: one small write per acknowledgement, in the kernel at once. */
  private writeAcked(p: SpoolPosition): void {
    this.ackedBuf.writeDoubleLE(p.segment, 0);
    this.ackedBuf.writeDoubleLE(p.offset, 8);
    writeSync(this.ackedFd, this.ackedBuf, 0, 16, 0);
  }

  private openSegment(): number | undefined {
    return this.writeFd === null ? undefined : this.segments.at(-1)?.n;
  }

  private writable(): Segment {
    const last = this.segments.at(-1);
    if (this.writeFd !== null && last) return last;
    return this.roll();
  }

  /** Starts the next segment; the one before is synced to disk first (only the newest can be torn). */
  private roll(): Segment {
    if (this.writeFd !== null) {
      const fd = this.writeFd;
      this.writeFd = null;
      fsync(fd, () => closeSync(fd));
    }
    const seg = { n: this.nextSegment++, size: 0 };
    this.writeFd = openSync(join(this.opts.dir, segmentName(seg.n)), 'a');
    this.segments.push(seg);
    return seg;
  }

  private writeOut(chunks: Buffer[]): void {
    if (chunks.length === 0 || this.writeFd === null) return;
    writevSync(this.writeFd, chunks);
    chunks.length = 0;
    this.dirty = true;
  }

  private remove(seg: Segment): void {
    if (seg.n === this.readSeg && this.readFd !== null) {
      closeSync(this.readFd);
      this.readFd = null;
    }
    if (seg.n === this.openSegment() && this.writeFd !== null) {
      closeSync(this.writeFd);
      this.writeFd = null;
    }
    unlinkSync(join(this.opts.dir, segmentName(seg.n)));
    this.segments.splice(this.segments.indexOf(seg), 1);
    this.totalBytes -= seg.size;
  }

  private nextReadSegment(): void {
    if (this.readFd !== null) closeSync(this.readFd);
    this.readFd = null;
    this.readBuf = Buffer.alloc(0);
    this.readBufAt = 0;
    const next = this.segments.find((s) => s.n > this.readSeg);
    this.readSeg = next?.n ?? this.nextSegment;
    this.readOffset = 0;
  }

  /** The record at the read offset, 'end' at the segment's end, 'torn' if it is cut short or garbled. */
  private readRecord(seg: Segment): Buffer | 'end' | 'torn' {
    const left = seg.size - this.readOffset;
    if (left <= 0) return 'end';
    if (left < HEADER_BYTES) return 'torn';
    const header = this.bytesAt(HEADER_BYTES);
    const length = header.readUInt32LE(0);
    if (length > MAX_RECORD_BYTES || HEADER_BYTES + length > left) return 'torn';
    const crc = header.readUInt32LE(4);
    const payload = Buffer.from(this.bytesAt(HEADER_BYTES + length).subarray(HEADER_BYTES));
    if (crc32(payload) !== crc) return 'torn';
    this.readOffset += HEADER_BYTES + length;
    this.readBufAt += HEADER_BYTES + length;
    return payload;
  }

  /** `n` bytes at the read offset, from the read buffer (refilled from the file as needed). */
  private bytesAt(n: number): Buffer {
    if (this.readBuf.length - this.readBufAt < n) {
      if (this.readFd === null) this.readFd = openSync(join(this.opts.dir, segmentName(this.readSeg)), 'r');
      const buf = Buffer.allocUnsafe(Math.max(n, READ_CHUNK_BYTES));
      const got = readSync(this.readFd, buf, 0, buf.length, this.readOffset);
      this.readBuf = buf.subarray(0, got);
      this.readBufAt = 0;
    }
    return this.readBuf.subarray(this.readBufAt, this.readBufAt + n);
  }

  /**
   * Drops a torn record and the rest of its segment: a crash can only cut the end of a segment, and
   * a length that cannot be trusted leaves no way to find the next record. A segment still being
   * written is cut at the tear, so the next append starts on a clean record boundary.
   */
  private truncateRead(seg: Segment): void {
    const cut = seg.size - this.readOffset;
    if (seg.n === this.openSegment() && this.writeFd !== null) ftruncateSync(this.writeFd, this.readOffset);
    seg.size = this.readOffset;
    this.totalBytes -= cut;
  }
}

function readAcked(path: string): SpoolPosition | null {
  try {
    const b = readFileSync(path);
    return b.length >= 16 ? { segment: b.readDoubleLE(0), offset: b.readDoubleLE(8) } : null;
  } catch {
    return null;
  }
}

/** One process per spool directory: a second would interleave its records with ours. */
function takeLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number(readFileSync(path, 'utf8').trim());
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
    throw new AppError('CONFIG_INVALID', `spool directory ${dir} is in use by process ${owner}; give each producer its own KIS_SPOOL_DIR`);
  }
  writeFileSync(path, String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
