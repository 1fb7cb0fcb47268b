import { defineConfig } from '../lib/config.js';
import { AvroSerde, registryConfigSpec } from '../lib/serde.js';
import { runService } from '../lib/service.js';
import { topicCatalogue } from '../lib/topics.js';
import { tradeInput } from '../stream-processors/candles/trade-input.js';
import type { TradeInput } from '../stream-processors/candles/windows.js';
import type { Processor } from '../stream-processors/runtime/processor.js';
import { deadLettersFor, StreamApp, startStreamApps, streamAppConfigSpec, streamAppSettings } from '../stream-processors/runtime/kafka-runtime.js';

/**
 * A bench-only service: the stream runtime over the ticks topic with a processor that does nothing,
 * so processors-catchup can split the candle processor's time between the runtime itself, the
 * decoding of each tick and the candle work. Run exactly like the candle processor (its own process,
 * transactions on, the same settings), with one of two floors:
 * - `runtime`: records reach the processor undecoded (what the runtime alone costs over raw consume);
 * - `decode`: each tick is decoded and validated as the candle processor does, then dropped.
 */
const config = defineConfig({
  ...streamAppConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'RUNTIME_FLOOR_APP_ID', type: 'string', default: 'bench-runtime-floor', pattern: /^[A-Za-z0-9._-]+$/, doc: 'consumer group and transactional-id prefix' },
  floor: { env: 'RUNTIME_FLOOR', type: 'enum', values: ['runtime', 'decode'] as const, default: 'runtime', doc: 'runtime: records undecoded; decode: each tick decoded and validated' },
});

/** What every record is read as on the `runtime` floor: one fixed value, nothing decoded. */
const UNDECODED: TradeInput = { symbol: '', time: 0, sequence: 0, price: 0, quantity: 0 };

await runService({
  name: 'runtime-floor',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const input = tradeInput(new AvroSerde(c.registryUrl), topics.ticks);
    const nothing: Processor<TradeInput, Record<string, never>> = { init: () => undefined, process: () => undefined };
    const app = new StreamApp<TradeInput, Record<string, never>>({
      ...streamAppSettings(c, c.applicationId, 'runtime-floor'),
      input: c.floor === 'decode' ? input : { ...input, decode: () => UNDECODED },
      outputs: {},
      deadLetters: deadLettersFor(topics, 'runtime-floor', metrics, logger),
      processor: () => nothing,
      metricPrefix: 'floor',
      recordNoun: 'ticks',
      logger,
      metrics,
      fail,
    });
    await startStreamApps([app], { setHealth, lifecycle });
    logger.info({ input: topics.ticks.name, floor: c.floor }, 'runtime floor running');
  },
});
