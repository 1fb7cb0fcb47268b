import type { OrderBook, OrderBookFeatures } from '../../schemas/generated/types.js';
import type { InRecord, Processor, ProcessorContext } from '../runtime/processor.js';
import { bookFeatures } from './features.js';

export interface OrderBookFeatureOutputs {
  features: OrderBookFeatures;
}

/**
 * One features record per order book, keyed by symbol, at the book's exchange time. Stateless: no
 * store, nothing retained, nothing late; exactly-once comes from the runtime's transactions.
 */
export class OrderBookFeaturesProcessor implements Processor<OrderBook, OrderBookFeatureOutputs> {
  private ctx!: ProcessorContext<OrderBookFeatureOutputs>;

  init(ctx: ProcessorContext<OrderBookFeatureOutputs>): void {
    this.ctx = ctx;
  }

  static timestamp(b: OrderBook): number {
    return b.exchangeTime;
  }

  process(r: InRecord<OrderBook>): void {
    const b = r.value;
    this.ctx.forward('features', b.symbol, bookFeatures(b), b.exchangeTime);
  }

  /** Nothing waits for stream time, so an idle partition need not be confirmed with the broker. */
  awaitsStreamTime(): boolean {
    return false;
  }
}
