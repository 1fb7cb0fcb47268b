import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './stack.js';

/** test/fixtures/talib-indicators.json (written by scripts/talib-fixtures.py): bars and TA-Lib's values for them. */
export interface TalibFixture {
  bars: Array<{ high: number; low: number; close: number; volume: number; tradedValue: number }>;
  /** Indicator name (as in IndicatorValues) → one value per bar, null where TA-Lib gives none. */
  expected: Record<string, Array<number | null>>;
}

export function talibFixture(): TalibFixture {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'talib-indicators.json'), 'utf8')) as TalibFixture;
}

/** A changelog value of the indicators store written by commit 6110fd3, before features existed, after `bars` of the fixture's bars. */
export function indicatorStateBeforeFeatures(): { bars: number; changelogValue: string } {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'indicator-state-6110fd3.json'), 'utf8')) as { bars: number; changelogValue: string };
}
