import { defineConfig } from '../../lib/config.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { MICROS_PER_MS } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { CandleSchema } from '../../schemas/generated/schemas.js';
import type { Candle } from '../../schemas/generated/types.js';
import { validateCandle } from '../../schemas/validation.js';
import { deadLettersFor, StreamApp, startStreamApps, streamAppConfigSpec, streamAppSettings, type OutputSpec } from '../runtime/kafka-runtime.js';
import { ROLLUP_INTERVALS, RollupProcessor, rollupStores, type RollupOutputs } from './rollup.js';

const config = defineConfig({
  ...streamAppConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'ROLLUPS_APP_ID', type: 'string', default: 'candles-rollups', pattern: /^[A-Za-z0-9._-]+$/, doc: 'consumer group, transactional-id prefix and changelog topic prefix' },
  graceMs: { env: 'ROLLUP_GRACE_MS', type: 'int', default: 0, min: 0, doc: 'how long after a window ends 1 s finals are still folded in (they arrive in order per partition, so 0 is enough when ticks and candles are partitioned alike)' },
  updateIntervalMs: { env: 'ROLLUP_UPDATE_INTERVAL_MS', type: 'int', default: 250, min: 10, doc: 'how often in-progress roll-up candles are emitted for live panels' },
});

await runService({
  name: 'candle-rollups',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const serde = new AvroSerde(c.registryUrl);
    const outputs = {} as { [K in keyof RollupOutputs]: OutputSpec<Candle> };
    for (const iv of ROLLUP_INTERVALS) {
      const topic = topics.candles(iv);
      const writer = await serde.registerValueSchema<Candle>(topic.name, CandleSchema);
      outputs[iv] = { topic, encode: (candle) => writer.encode(candle) };
    }
    const app = new StreamApp<Candle, RollupOutputs>({
      ...streamAppSettings(c, c.applicationId, 'candle-rollups'),
      input: {
        topic: topics.candles('1s'),
        decode: (value) => {
          const candle = serde.decode<Candle>(value);
          return candle instanceof Promise ? candle.then(validateCandle) : validateCandle(candle);
        },
        timestamp: RollupProcessor.timestamp,
      },
      outputs,
      stores: rollupStores,
      deadLetters: deadLettersFor(topics, 'rollups', metrics, logger),
      processor: () => new RollupProcessor({ graceMicros: c.graceMs * MICROS_PER_MS, updateIntervalMs: c.updateIntervalMs }),
      metricPrefix: 'rollups',
      recordNoun: 'candles',
      logger,
      metrics,
      fail,
    });
    await startStreamApps([app], { setHealth, lifecycle });
    logger.info({ input: topics.candles('1s').name, outputs: ROLLUP_INTERVALS.map((iv) => topics.candles(iv).name), applicationId: c.applicationId }, 'candle roll-ups running');
  },
});
