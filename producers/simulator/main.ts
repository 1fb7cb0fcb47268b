import { CompressionTypes } from 'kafkajs';
import { defineConfig } from '../../lib/config.js';
import { createKafka, createProducer, ensureTopics, kafkaConfigSpec } from '../../lib/kafka.js';
import { Counter, Gauge, Histogram } from '../../lib/metrics.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { MICROS_PER_MS, nowMicros } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { OrderBookSchema, TickSchema } from '../../schemas/generated/schemas.js';
import type { OrderBook, Tick } from '../../schemas/generated/types.js';
import { generateListings } from './listings.js';
import { MarketSimulator } from './market.js';

const config = defineConfig({
  ...kafkaConfigSpec,
  ...registryConfigSpec,
  symbols: { env: 'SIM_SYMBOLS', type: 'int', default: 200, min: 1, max: 10_000, doc: 'number of listed stocks to simulate (the whole market is 2,880)' },
  ticksPerSecond: { env: 'SIM_TICKS_PER_SECOND', type: 'number', default: 1_000, min: 0, doc: 'average trades per second over the whole market' },
  seed: { env: 'SIM_SEED', type: 'int', default: 42, doc: 'random seed: the same seed gives the same market' },
  session: { env: 'SIM_SESSION', type: 'enum', values: ['always', 'krx'] as const, default: 'always', doc: "'always': open around the clock (demos); 'krx': real KST hours with auctions and a U-shaped profile" },
  orderBooks: { env: 'SIM_ORDERBOOKS', type: 'bool', default: false, doc: 'also publish order-book snapshots to market.orderbook.v1' },
  start: { env: 'SIM_START', type: 'optional-string', doc: 'exchange time to start at (ISO 8601); default now. A past start with SIM_SPEED=0 generates history.' },
  speed: { env: 'SIM_SPEED', type: 'number', default: 1, min: 0, doc: 'exchange seconds per wall second; 0 = as fast as Kafka takes it' },
  durationSeconds: { env: 'SIM_DURATION_SECONDS', type: 'number', default: 0, min: 0, doc: 'stop after this many exchange seconds (0 = run until stopped)' },
  stepMs: { env: 'SIM_STEP_MS', type: 'int', default: 50, min: 1, max: 1000, doc: 'exchange-time step per produced batch' },
});

await runService({
  name: 'simulator',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, exit }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'simulator', logger });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topics.ticks, ...(c.orderBooks ? [topics.orderbook] : [])]);
    await admin.disconnect();

    const serde = new AvroSerde(c.registryUrl);
    const tickWriter = await serde.registerValueSchema<Tick>(topics.ticks.name, TickSchema);
    const bookWriter = c.orderBooks ? await serde.registerValueSchema<OrderBook>(topics.orderbook.name, OrderBookSchema) : null;

    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 5 });
    await producer.connect();
    lifecycle.onShutdown('producer', () => producer.disconnect());

    const produced = new Counter({ name: 'simulator_records_produced_total', help: 'records produced', labelNames: ['topic'], registers: [metrics] });
    const batchLatency = new Histogram({ name: 'simulator_produce_batch_seconds', help: 'time to produce one step (acks=all)', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [metrics] });
    const lag = new Gauge({ name: 'simulator_lag_seconds', help: 'how far the simulated clock is behind its schedule', registers: [metrics] });

    const listings = generateListings(c.symbols, c.seed);
    const sim = new MarketSimulator({ listings, seed: c.seed, ticksPerSecond: c.ticksPerSecond, mode: c.session, orderBooks: c.orderBooks });
    const startMicros = c.start ? Date.parse(c.start) * MICROS_PER_MS : nowMicros();
    if (!Number.isFinite(startMicros)) throw new Error(`SIM_START ${c.start} is not a date`);
    const endMicros = c.durationSeconds > 0 ? startMicros + c.durationSeconds * 1_000_000 : Infinity;
    const stepMicros = c.stepMs * MICROS_PER_MS;
    const wallStart = nowMicros();
    let healthy = true;
    setHealth(() => ({ healthy: healthy && !lifecycle.isStopping }));
    logger.info({ symbols: listings.length, ticksPerSecond: c.ticksPerSecond, session: c.session, start: new Date(startMicros / 1000).toISOString() }, 'simulating');

    let simTime = startMicros;
    let total = 0;
    while (!lifecycle.isStopping && simTime < endMicros) {
      // Exchange time follows the wall clock (times `speed`); with speed 0 it runs ahead in fixed steps.
      const target = c.speed === 0 ? simTime + stepMicros : Math.min(startMicros + (nowMicros() - wallStart) * c.speed, simTime + 10 * stepMicros);
      const to = Math.min(Math.max(target, simTime), endMicros);
      if (to - simTime < stepMicros && to < endMicros) {
        await new Promise((r) => setTimeout(r, Math.max(1, (stepMicros - (to - simTime)) / MICROS_PER_MS / Math.max(c.speed, 1e-9))));
        continue;
      }
      const ingest = c.speed === 0 ? nowMicros() : to;
      const { ticks, books } = sim.advance(simTime, to, ingest);
      simTime = to;
      const timer = batchLatency.startTimer();
      const sends = [];
      for (let i = 0; i < ticks.length; i += 2000) {
        sends.push(producer.send({
          topic: topics.ticks.name, acks: -1, compression: CompressionTypes.None,
          messages: ticks.slice(i, i + 2000).map((t) => ({ key: t.symbol, value: tickWriter.encode(t), timestamp: String(Math.floor(t.exchangeTime / 1000)) })),
        }));
      }
      if (bookWriter) {
        for (let i = 0; i < books.length; i += 2000) {
          sends.push(producer.send({
            topic: topics.orderbook.name, acks: -1,
            messages: books.slice(i, i + 2000).map((b) => ({ key: b.symbol, value: bookWriter.encode(b), timestamp: String(Math.floor(b.exchangeTime / 1000)) })),
          }));
        }
      }
      try {
        await Promise.all(sends);
      } catch (err) {
        healthy = false;
        throw err;
      }
      timer();
      total += ticks.length;
      produced.inc({ topic: topics.ticks.name }, ticks.length);
      if (books.length > 0) produced.inc({ topic: topics.orderbook.name }, books.length);
      if (c.speed > 0) lag.set(Math.max(0, (startMicros + (nowMicros() - wallStart) * c.speed - simTime) / 1e6));
    }
    logger.info({ ticks: total }, 'simulation finished');
    exit('simulation finished');
  },
});
