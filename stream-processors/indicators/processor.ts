import type { Candle, Features, Indicators } from '../../schemas/generated/types.js';
import type { InRecord, Processor, ProcessorContext, ProcessResult } from '../runtime/processor.js';
import { jsonStore, type KeyValueStore, type StoreSpec } from '../runtime/store.js';
import { stepBar } from './features.js';
import { newIndicatorState, stepIndicators, type IndicatorState } from './indicators.js';

export interface IndicatorOutputs {
  indicators: Indicators;
  features: Features;
}

const STORE = 'indicators';
export const indicatorStores: StoreSpec[] = [jsonStore<IndicatorState>(STORE)];

/**
 * Indicators and model features of every symbol at one interval from that interval's candles. A final
 * candle advances the symbol's state (kept in a changelogged store: it never closes, so it is restored,
 * not replayed); an in-progress candle gives provisional values from the same state, which stays
 * untouched. Both outputs come from one state and one pass, in the same transaction.
 */
export class IndicatorProcessor implements Processor<Candle, IndicatorOutputs> {
  private ctx!: ProcessorContext<IndicatorOutputs>;
  private store!: KeyValueStore<IndicatorState>;

  constructor(private readonly options: { features: boolean } = { features: true }) {}

  init(ctx: ProcessorContext<IndicatorOutputs>): void {
    this.ctx = ctx;
    this.store = ctx.store<IndicatorState>(STORE);
  }

  /** Event time: a final's window start; in-progress candles do not move stream time. */
  static timestamp(c: Candle): number {
    return c.isFinal ? c.windowStart : Number.NEGATIVE_INFINITY;
  }

  process(r: InRecord<Candle>): ProcessResult {
    const c = r.value;
    let state = this.store.get(c.symbol);
    // A bar at or before the last one folded in: a final seen before, or an update it superseded.
    if (state && c.windowStart <= state.lastStart) return c.isFinal ? 'late' : undefined;
    if (!state) state = newIndicatorState();
    const { indicators, features } = this.options.features ? stepBar(state, c, c.isFinal) : { indicators: stepIndicators(state, c, c.isFinal), features: null };
    if (c.isFinal) this.store.put(c.symbol, state);
    const emittedAt = this.ctx.wallClockMs() * 1000;
    this.ctx.forward('indicators', c.symbol, {
      symbol: c.symbol, interval: c.interval, windowStart: c.windowStart, windowEnd: c.windowEnd, close: c.close,
      isFinal: c.isFinal, ...indicators, emittedAt,
    }, c.windowStart);
    if (features) this.ctx.forward('features', c.symbol, {
      symbol: c.symbol, interval: c.interval, windowStart: c.windowStart, windowEnd: c.windowEnd, close: c.close, volume: c.volume,
      isFinal: c.isFinal, ...features, emittedAt,
    }, c.windowStart);
  }
}
