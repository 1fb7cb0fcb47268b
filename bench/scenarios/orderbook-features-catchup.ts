import { testKafka } from '../../test/helpers/kafka.js';
import { simulate, sliceEnv } from '../../test/helpers/pipeline.js';
import { yesterdayAt } from '../../test/helpers/time.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { median, rawConsume, serviceCatchUp } from './processors-catchup.js';

const BOOKS = 300_000;
const SYMBOLS = 2_880;
const SIM_RATE = 30_000; // books (one per trade) per exchange second
const ROUNDS = 3;

export const scenario: BenchScenario = {
  name: 'orderbook-features-catchup',
  description:
    `${BOOKS.toLocaleString('en-US')} ten-level order books of ${SYMBOLS.toLocaleString('en-US')} symbols already in Kafka (6 partitions). Raw kafkajs ` +
    `eachBatch consume of the books topic and the order-book features service from scratch (transactions on), alternated ${ROUNDS} times in one run (medians).`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const { common, ns } = sliceEnv('benchobfeat');
    const env = { ...common, TOPIC_PARTITIONS: '6' };
    const booksTopic = `${ns.topicNamespace}market.orderbook.v1`;
    await simulate(env, { symbols: SYMBOLS, ticksPerSecond: SIM_RATE, seconds: BOOKS / SIM_RATE, start: yesterdayAt('04:00').toISOString(), seed: 8, orderBooks: true });
    const admin = testKafka().admin();
    await admin.connect();
    const produced = (await admin.fetchTopicOffsets(booksTopic)).reduce((s, o) => s + Number(o.high), 0);
    await admin.disconnect();

    const cpuAtStart = cpuTimes();
    const raw: number[] = [];
    const features: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raw.push((await rawConsume(booksTopic, produced)).rate);
      const appEnv = { ...env, ORDERBOOK_FEATURES_APP_ID: `${ns.id}-orderbook-features-${round}` };
      const { rate, service } = await serviceCatchUp('stream-processors/orderbook-features/main.js', appEnv, 'orderbook_features_books_in_total', produced);
      features.push(rate);
      await service.stop();
    }
    const steal = stealShare(cpuAtStart, cpuTimes());
    return [
      { name: 'raw kafkajs eachBatch consume of the books, median', value: median(raw), unit: 'msgs/s', notes: `runs: ${raw.map((r) => Math.round(r)).join(', ')}` },
      { name: 'order-book features service from scratch, median', value: median(features), unit: 'books/s', notes: `runs: ${features.map((r) => Math.round(r)).join(', ')}` },
      { name: 'features service / raw consume (same run)', value: median(features.map((f, i) => f / (raw[i] as number))), unit: '×' },
      { name: 'CPU taken by the hypervisor (steal) during the run', value: Math.round(steal * 100), unit: '%' },
    ];
  },
};
