import { defineConfig } from '../../lib/config.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { topicCatalogue } from '../../lib/topics.js';
import { OrderBookFeaturesSchema } from '../../schemas/generated/schemas.js';
import type { OrderBook, OrderBookFeatures } from '../../schemas/generated/types.js';
import { validateOrderBook } from '../../schemas/validation.js';
import { deadLettersFor, StreamApp, startStreamApps, streamAppConfigSpec, streamAppSettings } from '../runtime/kafka-runtime.js';
import { validateBookLevels } from './features.js';
import { OrderBookFeaturesProcessor, type OrderBookFeatureOutputs } from './processor.js';

const config = defineConfig({
  ...streamAppConfigSpec,
  ...registryConfigSpec,
  applicationId: { env: 'ORDERBOOK_FEATURES_APP_ID', type: 'string', default: 'orderbook-features', pattern: /^[A-Za-z0-9._-]+$/, doc: 'consumer group and transactional-id prefix' },
});

const validate = (b: OrderBook): OrderBook => validateBookLevels(validateOrderBook(b));

await runService({
  name: 'orderbook-features',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, fail }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const output = topics.orderbookFeatures;
    const serde = new AvroSerde(c.registryUrl);
    const writer = await serde.registerValueSchema<OrderBookFeatures>(output.name, OrderBookFeaturesSchema);
    const app = new StreamApp<OrderBook, OrderBookFeatureOutputs>({
      ...streamAppSettings(c, c.applicationId, 'orderbook-features'),
      input: {
        topic: topics.orderbook,
        decode: (value) => {
          const book = serde.decode<OrderBook>(value);
          return book instanceof Promise ? book.then(validate) : validate(book);
        },
        timestamp: OrderBookFeaturesProcessor.timestamp,
      },
      outputs: { features: { topic: output, encode: (v) => writer.encode(v) } },
      deadLetters: deadLettersFor(topics, 'orderbook-features', metrics, logger),
      processor: () => new OrderBookFeaturesProcessor(),
      metricPrefix: 'orderbook_features',
      recordNoun: 'books',
      logger,
      metrics,
      fail,
    });
    await startStreamApps([app], { setHealth, lifecycle });
    logger.info({ input: topics.orderbook.name, output: output.name, applicationId: c.applicationId }, 'order-book features running');
  },
});
