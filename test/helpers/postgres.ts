import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { stackEnv } from './stack.js';

/** A fresh schema name per test (the sink's migrations create it); drop it with dropSchema. */
export function freshSchema(name: string): string {
  return `t_${name.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20)}_${randomBytes(3).toString('hex')}`;
}

/** Rows of a query on the stack's Postgres with `schema` first on the search_path. */
export async function pgQuery<T extends Record<string, unknown> = Record<string, unknown>>(schema: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: stackEnv().POSTGRES_URL, options: `-c search_path="${schema}"` });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await pgQuery('public', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
