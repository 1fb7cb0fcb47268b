import { defineConfig } from '../../lib/config.js';
import { Counter, Gauge, Histogram } from '../../lib/metrics.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { MICROS_PER_MS, MICROS_PER_SECOND } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { CandleSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Tick } from '../../schemas/generated/types.js';
import { deadLettersFor, StreamApp, startStreamApps, streamAppConfigSpec, streamAppSettings } from '../runtime/kafka-runtime.js';
import { CandleProcessor, type CandleOutputs } from './processor.js';
import { tradeInput } from './trade-input.js';
import type { TradeInput } from './windows.js';

const config = defineConfig({
  ...streamAppConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'CANDLES_APP_ID', type: 'string', default: 'candles-1s', pattern: /^[A-Za-z0-9._-]+$/, doc: 'consumer group and transactional-id prefix' },
  graceMs: { env: 'CANDLE_GRACE_MS', type: 'int', default: 1000, min: 0, doc: 'how long after a window ends late trades are still accepted (event time)' },
  updateIntervalMs: { env: 'CANDLE_UPDATE_INTERVAL_MS', type: 'int', default: 250, min: 10, doc: 'how often in-progress candles are emitted for live panels' },
});

const INTERVAL = '1s';

await runService({
  name: 'candle-processor',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const output = topics.candles(INTERVAL);
    const serde = new AvroSerde(c.registryUrl);
    const candleWriter = await serde.registerValueSchema<Candle>(output.name, CandleSchema);
    await serde.registerValueSchema<Tick>(topics.lateTicks.name, TickSchema);

    const emitted = new Counter({ name: 'candles_emitted_total', help: 'candle records produced', labelNames: ['kind'], registers: [metrics] });
    // Bound once: inc() with a label object hashes the labels on every record.
    const [emittedFinal, emittedUpdate] = [emitted.labels({ kind: 'final' }), emitted.labels({ kind: 'update' })];
    const finalDelay = new Histogram({ name: 'candles_final_delay_seconds', help: 'wall time from window end to the final candle, for live data', buckets: [0.5, 1, 1.5, 2, 3, 5, 10, 30], registers: [metrics] });
    const processors = new Set<CandleProcessor>();
    new Gauge({
      name: 'candles_open_windows', help: 'windows held in memory', registers: [metrics],
      collect() {
        let n = 0;
        for (const p of processors) n += p.openWindowCount;
        this.set(n);
      },
    });

    const app = new StreamApp<TradeInput, CandleOutputs>({
      ...streamAppSettings(c, c.applicationId, 'candle-processor'),
      input: tradeInput(serde, topics.ticks),
      outputs: {
        candles: {
          topic: output,
          encode: (candle) => {
            if (candle.isFinal) {
              emittedFinal.inc();
              const delay = (candle.emittedAt - candle.windowEnd) / MICROS_PER_SECOND;
              if (delay >= 0 && delay < 60) finalDelay.observe(delay);
            } else {
              emittedUpdate.inc();
            }
            return candleWriter.encode(candle);
          },
        },
      },
      lateTopic: topics.lateTicks,
      deadLetters: deadLettersFor(topics, 'candles', metrics, logger),
      processor: () => {
        const p = new CandleProcessor({ interval: INTERVAL, sizeMicros: MICROS_PER_SECOND, graceMicros: c.graceMs * MICROS_PER_MS, updateIntervalMs: c.updateIntervalMs });
        processors.add(p);
        const close = () => processors.delete(p);
        return Object.assign(p, { close });
      },
      metricPrefix: 'candles',
      recordNoun: 'ticks',
      logger,
      metrics,
      fail,
    });
    await startStreamApps([app], { setHealth, lifecycle });
    logger.info({ input: topics.ticks.name, output: output.name, applicationId: c.applicationId }, 'candle processor running');
  },
});
