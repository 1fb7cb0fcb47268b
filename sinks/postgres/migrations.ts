import type pg from 'pg';
import type { Logger } from '../../lib/logger.js';
import { inTransaction } from './transaction.js';

/**
 * Versioned migrations, applied in order at start-up, each in its own transaction with its version
 * recorded in `schema_migrations`. Never edit an applied migration: add the next version.
 * Every object lives in the sink's schema (POSTGRES_SCHEMA), reached through the search_path.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'reference tables: stocks, daily_bars, daily_market_summary',
    sql: `
      CREATE TABLE stocks (
        code text PRIMARY KEY,
        isin text NOT NULL,
        name text NOT NULL,
        full_name text NOT NULL,
        english_name text NOT NULL,
        market text NOT NULL CHECK (market IN ('KOSPI', 'KOSDAQ', 'KONEX')),
        sector text,
        industry text,
        security_group text NOT NULL,
        stock_kind text NOT NULL,
        par_value bigint,
        listed_shares bigint NOT NULL,
        listing_date date NOT NULL,
        -- From the stock's latest daily bar (the listings do not carry it).
        market_cap bigint,
        market_cap_date date,
        delisted boolean NOT NULL DEFAULT false,
        delisted_date date,
        source text NOT NULL,
        -- When the poller produced this version; an older version never overwrites a newer one.
        source_updated_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- The stocks listed now, per market.
      CREATE VIEW kospi_stocks AS SELECT * FROM stocks WHERE market = 'KOSPI' AND NOT delisted;
      CREATE VIEW kosdaq_stocks AS SELECT * FROM stocks WHERE market = 'KOSDAQ' AND NOT delisted;

      CREATE TABLE daily_bars (
        code text NOT NULL,
        date date NOT NULL,
        market text NOT NULL,
        name text NOT NULL,
        open bigint NOT NULL,
        high bigint NOT NULL,
        low bigint NOT NULL,
        close bigint NOT NULL,
        change bigint NOT NULL,
        change_rate double precision NOT NULL,
        volume bigint NOT NULL,
        traded_value bigint NOT NULL,
        market_cap bigint NOT NULL,
        listed_shares bigint NOT NULL,
        source text NOT NULL,
        ingested_at timestamptz NOT NULL,
        PRIMARY KEY (code, date)
      );
      CREATE INDEX daily_bars_by_date ON daily_bars (date);

      -- Kept current by the sink from daily_bars (INSERT ... SELECT ... ON CONFLICT); since
      -- migration 2 shortly after the bars commit, through daily_market_summary_pending.
      -- Counts are over the stocks that traded that day (volume > 0); a halted stock is in none.
      CREATE TABLE daily_market_summary (
        date date NOT NULL,
        market text NOT NULL,
        stocks_traded integer NOT NULL,
        traded_value bigint NOT NULL,
        -- Mean of the traded stocks' change rates, percent.
        average_return double precision NOT NULL,
        advancers integer NOT NULL,
        decliners integer NOT NULL,
        unchanged integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (date, market)
      );
    `,
  },
  {
    version: 2,
    name: 'daily_market_summary recomputed after the bars commit, from a pending-dates table',
    sql: `
      -- The dates whose summary must be recomputed. A bars transaction adds the dates it touched
      -- (in that transaction, so a crash loses none); the sink's refresher deletes the rows it can
      -- see and recomputes those dates in one transaction. Recomputing inside every bars
      -- transaction did each date once per partition and batch (6+ times in a backfill, about 40 %
      -- of Postgres's work) and made transactions of one date wait for each other.
      -- No key on purpose: two bars transactions of one date never wait on each other's row, and a
      -- row committed after a refresher's delete stays for its next run.
      CREATE TABLE daily_market_summary_pending (date date NOT NULL);
    `,
  },
];

/** Applies the migrations not yet applied; concurrent instances wait on one advisory lock. */
export async function migrate(pool: pg.Pool, schema: string, logger: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    const applied: number[] = [];
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kmarket-migrations:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations`)).rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(`SET LOCAL search_path TO "${schema}"`);
      await client.query(m.sql);
      await client.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
      logger.info({ version: m.version, name: m.name, schema }, 'migration applied');
    }
    return applied;
  });
}
