import { CompressionTypes } from 'kafkajs';
import { defineConfig } from '../../lib/config.js';
import { toAppError } from '../../lib/errors.js';
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

/** A step Kafka has not acknowledged for this long means Kafka is away (a step normally takes milliseconds). */
const STALL_WARN_MS = 2_000;

await runService({
  name: 'simulator',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, exit }) {
    const topics = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'simulator', logger, maxOutageMs: c.maxOutageMs });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topics.ticks, ...(c.orderBooks ? [topics.orderbook] : [])], c);
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
    let wallStart = nowMicros();
    let stalledSince: number | null = null;
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
      const topicMessages = [{
        topic: topics.ticks.name,
        messages: ticks.map((t) => ({ key: t.symbol, value: tickWriter.encode(t), timestamp: String(Math.floor(t.exchangeTime / 1000)) })),
      }];
      if (bookWriter && books.length > 0) {
        topicMessages.push({
          topic: topics.orderbook.name,
          messages: books.map((b) => ({ key: b.symbol, value: bookWriter.encode(b), timestamp: String(Math.floor(b.exchangeTime / 1000)) })),
        });
      }
      // One request per step, awaited before the next: kafkajs rolls a failed request's sequence
      // numbers back, so only the same request may be retried with them (a concurrent one would
      // take them over, and the broker would drop it as a duplicate of a retried batch it had
      // written). While Kafka is away the client retries for KAFKA_MAX_OUTAGE_MS; the simulated clock
      // waits for it, so nothing is dropped and exchange time does not jump.
      const stall = setTimeout(() => {
        healthy = false;
        stalledSince = Date.now() - STALL_WARN_MS;
        logger.warn({ waitedMs: STALL_WARN_MS, maxOutageMs: c.maxOutageMs }, 'Kafka has not acknowledged a step; the simulated clock is paused until it does');
      }, STALL_WARN_MS);
      try {
        await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      } catch (err) {
        healthy = false;
        throw toAppError(err, 'KAFKA_UNAVAILABLE');
      } finally {
        clearTimeout(stall);
      }
      if (stalledSince !== null) {
        const pausedMs = Date.now() - stalledSince;
        wallStart += pausedMs * MICROS_PER_MS;
        logger.warn({ pausedMs }, 'Kafka acknowledges again; the simulated clock resumes where it paused');
        stalledSince = null;
        healthy = true;
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
