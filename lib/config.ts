import { AppError } from './errors.js';

/**
 * Declarative, validated configuration read from the environment (after Kafka's ConfigDef):
 * every key has a type, a default (or is required) and a doc line; all problems are collected
 * and reported together so a misconfigured service fails once with the full list.
 */
interface BaseSpec {
  env: string;
  doc: string;
  /** Secrets are never echoed back in error messages or config dumps. */
  secret?: boolean;
}
interface StringSpec extends BaseSpec { type: 'string'; default?: string; pattern?: RegExp }
interface IntSpec extends BaseSpec { type: 'int'; default?: number; min?: number; max?: number }
interface NumberSpec extends BaseSpec { type: 'number'; default?: number; min?: number; max?: number }
interface BoolSpec extends BaseSpec { type: 'bool'; default?: boolean }
interface ListSpec extends BaseSpec { type: 'list'; default?: string[]; itemPattern?: RegExp; minItems?: number }
interface UrlSpec extends BaseSpec { type: 'url'; default?: string }
interface EnumSpec<T extends string = string> extends BaseSpec { type: 'enum'; values: readonly T[]; default?: T }
interface OptionalStringSpec extends BaseSpec { type: 'optional-string' }

export type ConfigSpec =
  | StringSpec | IntSpec | NumberSpec | BoolSpec | ListSpec | UrlSpec | EnumSpec | OptionalStringSpec;

type ValueOf<S extends ConfigSpec> =
  S extends EnumSpec<infer T> ? T :
  S extends StringSpec | UrlSpec ? string :
  S extends OptionalStringSpec ? string | undefined :
  S extends IntSpec | NumberSpec ? number :
  S extends BoolSpec ? boolean :
  S extends ListSpec ? readonly string[] :
  never;

export type ConfigOf<T extends Record<string, ConfigSpec>> = { readonly [K in keyof T]: ValueOf<T[K]> };

/** Identity helper that keeps literal types of a spec (so enum values stay narrow). */
export function defineConfig<const T extends Record<string, ConfigSpec>>(spec: T): T {
  return spec;
}

/** Base URLs are joined with paths later: keep them without a trailing slash. */
function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

function parseOne(spec: ConfigSpec, raw: string | undefined, problems: string[]): unknown {
  const name = spec.env;
  const shown = (v: string) => (spec.secret ? '<redacted>' : JSON.stringify(v));
  if (raw === undefined || raw === '') {
    if (spec.type === 'optional-string') return undefined;
    if (spec.default === undefined) {
      problems.push(`${name}: required (${spec.doc})`);
      return undefined;
    }
    return spec.type === 'url' ? normalizeUrl(spec.default) : spec.default;
  }
  switch (spec.type) {
    case 'string':
    case 'optional-string': {
      if (spec.type === 'string' && spec.pattern && !spec.pattern.test(raw)) {
        problems.push(`${name}: ${shown(raw)} does not match ${spec.pattern}`);
      }
      return raw;
    }
    case 'int':
    case 'number': {
      const n = Number(raw.trim());
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        problems.push(`${name}: ${shown(raw)} is not ${spec.type === 'int' ? 'an integer' : 'a number'}`);
        return undefined;
      }
      if (spec.min !== undefined && n < spec.min) problems.push(`${name}: ${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) problems.push(`${name}: ${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      problems.push(`${name}: ${shown(raw)} is not a boolean (true/false)`);
      return undefined;
    }
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      if (spec.minItems !== undefined && items.length < spec.minItems) {
        problems.push(`${name}: needs at least ${spec.minItems} item(s)`);
      }
      const pattern = spec.itemPattern;
      if (pattern) {
        const bad = items.filter((i) => !pattern.test(i));
        if (bad.length > 0) problems.push(`${name}: invalid item(s) ${bad.map(shown).join(', ')} (expected ${pattern})`);
      }
      return Object.freeze(items);
    }
    case 'url': {
      try {
        new URL(raw);
      } catch {
        problems.push(`${name}: ${shown(raw)} is not a valid URL`);
      }
      return normalizeUrl(raw);
    }
    case 'enum': {
      if (!spec.values.includes(raw)) {
        problems.push(`${name}: ${shown(raw)} is not one of ${spec.values.join(', ')}`);
        return undefined;
      }
      return raw;
    }
  }
}

/** Reads, validates and freezes a config; throws CONFIG_INVALID listing every problem at once. */
export function loadConfig<T extends Record<string, ConfigSpec>>(
  spec: T,
  env: Record<string, string | undefined> = process.env,
): ConfigOf<T> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    out[key] = parseOne(s, env[s.env], problems);
  }
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      context: { problems },
    });
  }
  return Object.freeze(out) as ConfigOf<T>;
}

/** A printable view of a config with secrets masked, for the start-up log line. */
export function describeConfig<T extends Record<string, ConfigSpec>>(spec: T, config: ConfigOf<T>): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    view[key] = s.secret && config[key] !== undefined ? '<redacted>' : config[key];
  }
  return view;
}
