import type avro from 'avsc';
import type pg from 'pg';
import { boolArray, dateArray, float8Array, int8Array, textArray, timestamptzArray } from './arrays.js';
import type { TopicCatalogue, TopicSpec } from '../../lib/topics.js';
import { DailyBarSchema, StockSchema } from '../../schemas/generated/schemas.js';
import type { DailyBar, Stock } from '../../schemas/generated/types.js';
import { validateDailyBar, validateStock } from '../../schemas/validation.js';

/**
 * How one topic lands in Postgres. The sink runs one consumer for every mapped topic; per batch,
 * all mappings upsert inside one transaction, and offsets are committed after it commits.
 */
export interface PgMapping<T> {
  topic: TopicSpec;
  table: string;
  readerSchema: avro.Schema;
  validate(record: T): T;
  /** The table's primary key of a record: of several versions in one batch only the last is written. */
  key(record: T): string;
  /** Upserts records (one version per key) in the caller's transaction, with whatever they keep current. */
  upsert(client: pg.ClientBase, records: readonly T[]): Promise<void>;
  /**
   * Tables derived from this one and kept current after its transactions commit, not inside them:
   * `run` does, in a transaction of its own, what committed upserts left to do (recorded by them in
   * the database) and returns how many units. Asked for after each commit and at start-up.
   */
  deferred?: { name: string; run(client: pg.ClientBase): Promise<number> };
}

/** First key of the per-date advisory locks of the summary refreshers. */
const SUMMARY_LOCK = 0x4b52_5831;
const column = <T, V>(records: readonly T[], f: (r: T) => V) => records.map(f);

export function stocksMapping(topic: TopicSpec): PgMapping<Stock> {
  return {
    topic,
    table: 'stocks',
    readerSchema: StockSchema,
    validate: validateStock,
    key: (s) => s.code,
    async upsert(client, stocks) {
      // One statement for the whole batch: arrays in, unnest to rows (no per-row round trips).
      await client.query(
        `INSERT INTO stocks (code, isin, name, full_name, english_name, market, sector, industry, security_group, stock_kind,
           par_value, listed_shares, listing_date, delisted, delisted_date, source, source_updated_at, updated_at)
         SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
           $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::date[], $14::boolean[], $15::date[], $16::text[], $17::timestamptz[])
         ON CONFLICT (code) DO UPDATE SET isin = EXCLUDED.isin, name = EXCLUDED.name, full_name = EXCLUDED.full_name,
           english_name = EXCLUDED.english_name, market = EXCLUDED.market, sector = EXCLUDED.sector, industry = EXCLUDED.industry,
           security_group = EXCLUDED.security_group, stock_kind = EXCLUDED.stock_kind, par_value = EXCLUDED.par_value,
           listed_shares = EXCLUDED.listed_shares, listing_date = EXCLUDED.listing_date, delisted = EXCLUDED.delisted,
           delisted_date = EXCLUDED.delisted_date, source = EXCLUDED.source, source_updated_at = EXCLUDED.source_updated_at, updated_at = now()
         WHERE stocks.source_updated_at <= EXCLUDED.source_updated_at`,
        [
          textArray(column(stocks, (s) => s.code)), textArray(column(stocks, (s) => s.isin)), textArray(column(stocks, (s) => s.name)),
          textArray(column(stocks, (s) => s.fullName)), textArray(column(stocks, (s) => s.englishName)), textArray(column(stocks, (s) => s.market)),
          textArray(column(stocks, (s) => s.sector)), textArray(column(stocks, (s) => s.industry)), textArray(column(stocks, (s) => s.securityGroup)),
          textArray(column(stocks, (s) => s.stockKind)), int8Array(column(stocks, (s) => s.parValue)), int8Array(column(stocks, (s) => s.listedShares)),
          dateArray(column(stocks, (s) => s.listingDate)), boolArray(column(stocks, (s) => s.delisted)), dateArray(column(stocks, (s) => s.delistedDate)),
          textArray(column(stocks, (s) => s.source)), timestamptzArray(column(stocks, (s) => s.updatedAt)),
        ],
      );
      // A stock that arrives after its bars takes its market cap from the latest one.
      await client.query(
        `UPDATE stocks s SET market_cap = b.market_cap, market_cap_date = b.date
         FROM (SELECT DISTINCT ON (code) code, date, market_cap FROM daily_bars WHERE code = ANY($1::text[]) ORDER BY code, date DESC) b
         WHERE s.code = b.code AND s.market_cap_date IS DISTINCT FROM b.date`,
        [textArray(column(stocks, (s) => s.code))],
      );
    },
  };
}

export function dailyBarsMapping(topic: TopicSpec): PgMapping<DailyBar> {
  return {
    topic,
    table: 'daily_bars',
    readerSchema: DailyBarSchema,
    validate: validateDailyBar,
    key: (b) => `${b.code}@${b.date}`,
    async upsert(client, bars) {
      const codes = textArray(column(bars, (b) => b.code));
      const dates = dateArray(column(bars, (b) => b.date));
      const marketCaps = int8Array(column(bars, (b) => b.marketCap));
      await client.query(
        `INSERT INTO daily_bars (code, date, market, name, open, high, low, close, change, change_rate, volume, traded_value,
           market_cap, listed_shares, source, ingested_at)
         SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
           $9::bigint[], $10::float8[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::timestamptz[])
         ON CONFLICT (code, date) DO UPDATE SET market = EXCLUDED.market, name = EXCLUDED.name, open = EXCLUDED.open,
           high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, change = EXCLUDED.change, change_rate = EXCLUDED.change_rate,
           volume = EXCLUDED.volume, traded_value = EXCLUDED.traded_value, market_cap = EXCLUDED.market_cap,
           listed_shares = EXCLUDED.listed_shares, source = EXCLUDED.source, ingested_at = EXCLUDED.ingested_at`,
        [
          codes, dates, textArray(column(bars, (b) => b.market)), textArray(column(bars, (b) => b.name)),
          int8Array(column(bars, (b) => b.open)), int8Array(column(bars, (b) => b.high)), int8Array(column(bars, (b) => b.low)),
          int8Array(column(bars, (b) => b.close)), int8Array(column(bars, (b) => b.change)), float8Array(column(bars, (b) => b.changeRate)),
          int8Array(column(bars, (b) => b.volume)), int8Array(column(bars, (b) => b.tradedValue)), marketCaps,
          int8Array(column(bars, (b) => b.listedShares)), textArray(column(bars, (b) => b.source)), timestamptzArray(column(bars, (b) => b.ingestTime)),
        ],
      );
      // The latest market cap onto the stock (only forward in time).
      await client.query(
        `UPDATE stocks s SET market_cap = v.market_cap, market_cap_date = v.date
         FROM (SELECT DISTINCT ON (code) code, date, market_cap FROM unnest($1::text[], $2::date[], $3::bigint[]) AS t(code, date, market_cap)
               ORDER BY code, date DESC) v
         WHERE s.code = v.code AND (s.market_cap_date IS NULL OR s.market_cap_date <= v.date)`,
        [codes, dates, marketCaps],
      );
      // Their dates' summary is recomputed by the refresher once this transaction is committed.
      await client.query('INSERT INTO daily_market_summary_pending (date) SELECT unnest($1::date[])', [dateArray([...new Set(bars.map((b) => b.date))])]);
    },
    deferred: { name: 'daily_market_summary', run: refreshMarketSummary },
  };
}

/**
 * Recomputes the summary of every pending date from all of that date's bars, in the caller's
 * transaction; returns how many dates. It claims (deletes) only pending rows it can see and no
 * other refresher has locked, so a bars transaction still open keeps its row for the next run.
 * Two refreshers of one date (two sink instances) take a per-date lock in date order before
 * reading the bars: the later one reads after the earlier committed, so the last write is the
 * newest, and neither waits for the other's claim.
 */
export async function refreshMarketSummary(client: pg.ClientBase): Promise<number> {
  const claimed = await client.query<{ date: string }>(
    `WITH claimed AS (
       DELETE FROM daily_market_summary_pending WHERE ctid IN (SELECT ctid FROM daily_market_summary_pending FOR UPDATE SKIP LOCKED)
       RETURNING date)
     SELECT DISTINCT to_char(date, 'YYYY-MM-DD') date FROM claimed ORDER BY 1`,
  );
  const dates = claimed.rows.map((r) => r.date);
  if (dates.length === 0) return 0;
  await client.query('SELECT pg_advisory_xact_lock($1, (d - DATE \'1970-01-01\')) FROM unnest($2::date[]) AS d', [SUMMARY_LOCK, dates]);
  await client.query(
    `INSERT INTO daily_market_summary (date, market, stocks_traded, traded_value, average_return, advancers, decliners, unchanged, updated_at)
     SELECT date, market, count(*), sum(traded_value), avg(change_rate), count(*) FILTER (WHERE change > 0),
            count(*) FILTER (WHERE change < 0), count(*) FILTER (WHERE change = 0), now()
     FROM daily_bars WHERE date = ANY($1::date[]) AND volume > 0
     GROUP BY date, market ORDER BY date, market
     ON CONFLICT (date, market) DO UPDATE SET stocks_traded = EXCLUDED.stocks_traded, traded_value = EXCLUDED.traded_value,
       average_return = EXCLUDED.average_return, advancers = EXCLUDED.advancers, decliners = EXCLUDED.decliners,
       unchanged = EXCLUDED.unchanged, updated_at = now()`,
    [dates],
  );
  return dates.length;
}

/** The sink's catalogue: topic name → table, for every topic this sink can serve. */
export function postgresMappings(topics: TopicCatalogue): Map<string, PgMapping<never>> {
  const all: PgMapping<never>[] = [stocksMapping(topics.stocks) as PgMapping<never>, dailyBarsMapping(topics.krxDailyBars) as PgMapping<never>];
  return new Map(all.map((m) => [m.topic.name, m]));
}
