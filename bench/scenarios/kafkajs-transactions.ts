/**
 * kafkajs's transactions on their own, with the stream runtime's producer settings: 200 transactions
 * of one record and one consumed offset each (the shape of the runtime's live commits), 50 ms apart as
 * live commits are, then 200 with no pause between them. Measured: each transaction's time from
 * `producer.transaction()` to the end of `commit()`, and the requests it sent, from kafkajs's own
 * request events. patches/kafkajs+2.2.4.patch is what this measures: it keeps the transaction and group
 * coordinators between requests. With the patch's eosManager swapped for the one before that change,
 * this scenario measured 9 requests per transaction instead of 5, and p50 8.6-8.9 ms 50 ms apart
 * against 6.0-7.4 ms (2026-12-03, alternating runs on one stack).
 */
import { randomBytes } from 'node:crypto';
import { createKafka, createProducer, ensureTopics } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { TRANSACTION_RETRY } from '../../stream-processors/runtime/session.js';
import { stackEnv } from '../../test/helpers/stack.js';
import { cpuTimes, quantile, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';

const TRANSACTIONS = 200;
const LIVE_GAP_MS = 50;

export const scenario: BenchScenario = {
  name: 'kafkajs-transactions',
  description:
    `kafkajs (patched) transactions with the stream runtime's producer settings: ${TRANSACTIONS} of one record and one offset each, ` +
    `${LIVE_GAP_MS} ms apart (live commits), then ${TRANSACTIONS} back to back; time per transaction and the requests each sends`,
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const kafka = createKafka({ brokers: stackEnv().KAFKA_BROKERS.split(','), clientId: 'bench-kafkajs-txn', logger: createLogger('bench', { level: 'error' }) });
    const id = `bench-kafkajs-txn-${randomBytes(4).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ name: id, partitions: 1, config: {} }]);
    await admin.disconnect();
    const producer = createProducer(kafka, { transactionalId: id, idempotent: true, maxInFlightRequests: 1, retry: TRANSACTION_RETRY });
    const requests = new Map<string, number>();
    producer.on(producer.events.REQUEST, ({ payload }) => requests.set(payload.apiName, (requests.get(payload.apiName) ?? 0) + 1));
    await producer.connect();
    let offset = 0;
    const transaction = async () => {
      const start = performance.now();
      const txn = await producer.transaction();
      try {
        await txn.send({ topic: id, messages: [{ key: 'k', value: 'v' }] });
        await txn.sendOffsets({ consumerGroupId: id, topics: [{ topic: id, partitions: [{ partition: 0, offset: String(++offset) }] }] });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      return performance.now() - start;
    };
    const run = async (gapMs: number) => {
      requests.clear();
      const times: number[] = [];
      const machine = cpuTimes();
      for (let i = 0; i < TRANSACTIONS; i++) {
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        times.push(await transaction());
      }
      const per = (api: string) => (requests.get(api) ?? 0) / TRANSACTIONS;
      return { times, steal: stealShare(machine, cpuTimes()), lookups: per('GroupCoordinator'), addPartitions: per('AddPartitionsToTxn'), addOffsets: per('AddOffsetsToTxn'), all: [...requests.values()].reduce((a, b) => a + b, 0) / TRANSACTIONS };
    };
    try {
      await transaction(); // warm-up: coordinators, connections, JIT
      const live = await run(LIVE_GAP_MS);
      const burst = await run(0);
      const ms = (x: number) => Number(x.toFixed(1));
      return [
        {
          name: `transaction, ${LIVE_GAP_MS} ms apart, p50`, value: ms(quantile(live.times, 0.5)), unit: 'ms', higherIsBetter: false,
          notes: `p90 ${ms(quantile(live.times, 0.9))} / p99 ${ms(quantile(live.times, 0.99))} ms; ${Math.round(live.steal * 100)}% steal`,
        },
        {
          name: `requests per transaction, ${LIVE_GAP_MS} ms apart`, value: Number(live.all.toFixed(2)), unit: 'requests', higherIsBetter: false,
          notes: `FindCoordinator ${live.lookups.toFixed(2)}, AddPartitionsToTxn ${live.addPartitions.toFixed(2)}, AddOffsetsToTxn ${live.addOffsets.toFixed(2)} (above 1: answered CONCURRENT_TRANSACTIONS and sent again)`,
        },
        {
          name: 'transaction, back to back, p50', value: ms(quantile(burst.times, 0.5)), unit: 'ms', higherIsBetter: false,
          notes: `p90 ${ms(quantile(burst.times, 0.9))} / p99 ${ms(quantile(burst.times, 0.99))} ms; ${Math.round(burst.steal * 100)}% steal; ` +
            `AddPartitionsToTxn ${burst.addPartitions.toFixed(2)} and AddOffsetsToTxn ${burst.addOffsets.toFixed(2)} per transaction: right after a commit the coordinator answers CONCURRENT_TRANSACTIONS until it has written the commit's markers, and the retry waits ${TRANSACTION_RETRY.initialRetryTime} ms, doubling; with 5 ms between transactions none met it (measured 2026-12-03)`,
        },
      ];
    } finally {
      await producer.disconnect();
    }
  },
};
