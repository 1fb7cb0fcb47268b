import { readerOf, type AvroSerde } from '../../lib/serde.js';
import type { TopicSpec } from '../../lib/topics.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Tick } from '../../schemas/generated/types.js';
import { TICK_VALIDATED_FIELDS, validateTick } from '../../schemas/validation.js';
import type { InputSpec } from '../runtime/options.js';
import type { TradeInput } from './windows.js';

/** What a tick is read as: the fields its validation and a trade need; the others are skipped undecoded. */
const TICK_FIELDS = [...TICK_VALIDATED_FIELDS, 'sequence', 'marketSession'] as const;
type TickRead = Pick<Tick, (typeof TICK_FIELDS)[number]>;
const tickReader = readerOf(TickSchema, TICK_FIELDS);

/** The ticks topic as the candle processor reads it: each value decoded, validated and made a trade, stamped with its exchange time. */
export function tradeInput(serde: AvroSerde, topic: TopicSpec): InputSpec<TradeInput> {
  return {
    topic,
    decode: (value) => {
      const tick = serde.decode<TickRead>(value, tickReader);
      return tick instanceof Promise ? tick.then(toTrade) : toTrade(tick);
    },
    timestamp: (t) => t.time,
  };
}

function toTrade(t: TickRead): TradeInput {
  validateTick(t);
  return { symbol: t.symbol, time: t.exchangeTime, sequence: t.sequence, price: t.price, quantity: t.quantity, session: t.marketSession };
}
