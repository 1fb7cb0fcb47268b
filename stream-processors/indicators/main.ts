import { defineConfig } from '../../lib/config.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { CANDLE_INTERVALS, topicCatalogue, type CandleInterval } from '../../lib/topics.js';
import { FeaturesSchema, IndicatorsSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Features, Indicators } from '../../schemas/generated/types.js';
import { validateCandle } from '../../schemas/validation.js';
import { deadLettersFor, StreamApp, startStreamApps, streamAppConfigSpec, streamAppSettings } from '../runtime/kafka-runtime.js';
import { IndicatorProcessor, indicatorStores, type IndicatorOutputs } from './processor.js';

const config = defineConfig({
  ...streamAppConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'INDICATORS_APP_ID', type: 'string', default: 'indicators', pattern: /^[A-Za-z0-9._-]+$/, doc: 'prefix of the consumer groups, transactional ids and changelog topics (one application per interval: <id>-<interval>)' },
  features: { env: 'INDICATOR_FEATURES', type: 'bool', default: true, doc: 'also write the model features (market.features.<interval>.v1) from the same state; false leaves those topics empty' },
  intervals: { env: 'INDICATOR_INTERVALS', type: 'list', default: [...CANDLE_INTERVALS], itemPattern: /^(1s|1m|5m|15m|1h|1d)$/, minItems: 1, doc: 'candle intervals to compute indicators on, comma separated' },
});

await runService({
  name: 'indicators',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const serde = new AvroSerde(c.registryUrl);
    const apps: Array<StreamApp<Candle, IndicatorOutputs>> = [];
    const dlq = deadLettersFor(topics, 'indicators', metrics, logger);
    for (const iv of c.intervals as CandleInterval[]) {
      const output = topics.indicators(iv);
      const writer = await serde.registerValueSchema<Indicators>(output.name, IndicatorsSchema);
      const featuresOutput = topics.features(iv);
      const featuresWriter = await serde.registerValueSchema<Features>(featuresOutput.name, FeaturesSchema);
      apps.push(new StreamApp<Candle, IndicatorOutputs>({
        ...streamAppSettings(c, `${c.applicationId}-${iv}`, `indicators-${iv}`),
        input: {
          topic: topics.candles(iv),
          decode: (value) => {
            const candle = serde.decode<Candle>(value);
            return candle instanceof Promise ? candle.then(validateCandle) : validateCandle(candle);
          },
          timestamp: IndicatorProcessor.timestamp,
        },
        outputs: {
          indicators: { topic: output, encode: (v) => writer.encode(v) },
          features: { topic: featuresOutput, encode: (v) => featuresWriter.encode(v) },
        },
        stores: indicatorStores,
        deadLetters: dlq,
        processor: () => new IndicatorProcessor({ features: c.features }),
        metricPrefix: `indicators_${iv}`,
        recordNoun: 'candles',
        logger: logger.child({ interval: iv }),
        metrics,
        fail,
      }));
    }
    // One after the other: they create the shared dead-letter topic.
    await startStreamApps(apps, { setHealth, lifecycle });
    logger.info({ intervals: c.intervals, outputs: c.intervals.flatMap((iv) => [topics.indicators(iv as CandleInterval).name, topics.features(iv as CandleInterval).name]) }, 'indicators running');
  },
});
