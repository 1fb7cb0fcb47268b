import type { Stock } from '../../schemas/generated/types.js';

/**
 * What a listings poll changes, without I/O. The known state is the compacted topic's content
 * (read back at start-up); a poll yields the records to publish: new or changed listings, and a
 * delisting record for every known stock the poll no longer shows — never a deletion.
 */
export interface ListingsUpdate {
  publish: Stock[];
  added: number;
  changed: number;
  delisted: number;
  /** Set when the poll looked too small to trust with delistings (then none are made). */
  distrusted?: string;
}

/** The fields that make a new version worth publishing (not updatedAt, not source). */
function sameListing(a: Stock, b: Stock): boolean {
  return a.isin === b.isin && a.name === b.name && a.fullName === b.fullName && a.englishName === b.englishName &&
    a.market === b.market && a.sector === b.sector && a.industry === b.industry && a.securityGroup === b.securityGroup &&
    a.stockKind === b.stockKind && a.parValue === b.parValue && a.listedShares === b.listedShares &&
    a.listingDate === b.listingDate && a.delisted === b.delisted && a.delistedDate === b.delistedDate;
}

export class ListingsState {
  private readonly known = new Map<string, Stock>();

  /** Replays a record from the topic (the latest per code wins). */
  remember(stock: Stock): void {
    this.known.set(stock.code, stock);
  }

  get size(): number {
    return this.known.size;
  }

  get(code: string): Stock | undefined {
    return this.known.get(code);
  }

  /**
   * `polled`: the current listings; `today`: the KST date of the poll (a delisting's date);
   * `guard`: a poll with fewer than this share of the listed stocks known is not trusted to delist.
   */
  update(polled: readonly Stock[], today: number, updatedAt: number, guard: number): ListingsUpdate {
    const out: ListingsUpdate = { publish: [], added: 0, changed: 0, delisted: 0 };
    const seen = new Set<string>();
    for (const s of polled) {
      seen.add(s.code);
      const before = this.known.get(s.code);
      if (before && sameListing(before, s)) continue;
      if (before) out.changed++;
      else out.added++;
      out.publish.push(s);
    }
    const listed = [...this.known.values()].filter((s) => !s.delisted);
    const missing = listed.filter((s) => !seen.has(s.code));
    if (missing.length > 0 && polled.length < guard * listed.length) {
      out.distrusted = `the poll returned ${polled.length} listings for ${listed.length} known: not delisting ${missing.length}`;
    } else {
      for (const s of missing) {
        out.publish.push({ ...s, delisted: true, delistedDate: today, updatedAt });
        out.delisted++;
      }
    }
    for (const s of out.publish) this.known.set(s.code, s);
    return out;
  }
}
