/** How a store's values are written to and read back from its changelog. */
export interface StoreSpec<V = unknown> {
  name: string;
  encode(value: V): Buffer;
  decode(bytes: Buffer): V;
}

/** A store whose values are JSON in the changelog: simple, and plenty for per-key aggregates. */
export function jsonStore<V>(name: string): StoreSpec<V> {
  return {
    name,
    encode: (v) => Buffer.from(JSON.stringify(v)),
    decode: (b) => JSON.parse(b.toString('utf8')) as V,
  };
}

export interface ChangelogEntry {
  key: string;
  /** null: the key was deleted (a tombstone, which compaction eventually drops). */
  value: Buffer | null;
}

/**
 * A keyed store of one task. Every put/delete marks the key; at each commit the runtime writes the
 * latest value of each marked key once to the changelog (so a key changed a thousand times between
 * two commits costs one changelog record). Values may be mutated in place, but only a `put` marks them.
 */
export class KeyValueStore<V> {
  private readonly data = new Map<string, V>();
  private readonly changed = new Set<string>();

  constructor(readonly spec: StoreSpec<V>) {}

  get(key: string): V | undefined {
    return this.data.get(key);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  put(key: string, value: V): void {
    this.data.set(key, value);
    this.changed.add(key);
  }

  delete(key: string): void {
    if (this.data.delete(key)) this.changed.add(key);
  }

  get size(): number {
    return this.data.size;
  }

  entries(): IterableIterator<[string, V]> {
    return this.data.entries();
  }

  /** Applies one changelog record while restoring (not itself a change to write back). */
  restore(key: string, value: Buffer | null): void {
    if (value === null) this.data.delete(key);
    else this.data.set(key, this.spec.decode(value));
  }

  /** The changelog records since the last call, one per changed key. */
  takeChanges(): ChangelogEntry[] {
    const out: ChangelogEntry[] = [];
    for (const key of this.changed) {
      const v = this.data.get(key);
      out.push({ key, value: v === undefined ? null : this.spec.encode(v) });
    }
    this.changed.clear();
    return out;
  }

  get hasChanges(): boolean {
    return this.changed.size > 0;
  }
}

/** Compacted changelog topic of a store: one per application and store, partitioned like the input. */
export function changelogTopicName(applicationId: string, store: string): string {
  return `${applicationId}-${store}-changelog`;
}
