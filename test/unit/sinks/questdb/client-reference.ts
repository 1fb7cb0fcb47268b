import { createBuffer, SenderOptions, type SenderBuffer } from '@questdb/nodejs-client';
import type { Column } from '../../../../sinks/questdb/ilp.js';

/** A buffer of the official client, configured as the sink used it (ILP over HTTP, protocol version 2). */
export function clientBuffer(): SenderBuffer {
  return createBuffer(new SenderOptions('http::addr=127.0.0.1:9000;protocol_version=2;init_buf_size=1024'));
}

/** Rows written with the official client's own calls, one per column kind, absent values left out. */
export function clientRows<T>(table: string, columns: readonly Column<T>[], ts: (r: T) => number, records: readonly T[]): Buffer {
  const b = clientBuffer();
  for (const r of records) {
    b.table(table);
    for (const c of columns) {
      const v = c.value(r);
      if (c.kind === 'symbol' && v !== undefined && v !== null) b.symbol(c.name, v);
    }
    for (const c of columns) {
      const v = c.value(r);
      if (v === undefined || v === null) continue;
      if (c.kind === 'long') b.intColumn(c.name, v as number);
      else if (c.kind === 'double') b.floatColumn(c.name, v as number);
      else if (c.kind === 'boolean') b.booleanColumn(c.name, v as boolean);
      else if (c.kind === 'timestamp') b.timestampColumn(c.name, v as number, 'us');
      else if (c.kind === 'varchar') b.stringColumn(c.name, v as string);
    }
    b.at(ts(r), 'us');
  }
  return Buffer.from(b.toBufferView() ?? Buffer.alloc(0));
}
