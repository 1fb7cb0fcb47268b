import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// kafkajs's transaction manager as patched by patches/kafkajs+2.2.4.patch (producer/eosManager): the
// AddOffsetsToTxn request of `sendOffsets` is retried with the producer's retry settings while the
// coordinator answers that it is busy with the previous transaction, loading, or no longer the
// coordinator, as the Java client does; any other answer is thrown at once. Against fake coordinators
// that answer from a script. The round trip with the real broker is test/integration/kafkajs-patches.test.ts.
const require = createRequire(import.meta.url);
type ProtocolError = Error & { type: string };
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => ProtocolError };
const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (deps: unknown) => {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  sendOffsets(args: { consumerGroupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void>;
  commit(): Promise<void>;
};
const COORDINATOR_TYPE_GROUP = 0;
const COORDINATOR_TYPE_TRANSACTION = 1;

const CONCURRENT_TRANSACTIONS = 51;
const GROUP_LOAD_IN_PROGRESS = 14;
const NOT_COORDINATOR_FOR_GROUP = 16;
const INVALID_PRODUCER_EPOCH = 47;

/** A broker whose AddOffsetsToTxn answers are the error codes in `refusals`, in order, then success. */
class FakeCoordinator {
  readonly addOffsets: Array<{ transactionalId: string; groupId: string }> = [];
  readonly offsetCommits: unknown[] = [];
  readonly endTxns: boolean[] = [];

  constructor(readonly nodeId: number, private readonly refusals: number[] = []) {}

  async initProducerId() {
    return { producerId: 7, producerEpoch: 0 };
  }

  async addOffsetsToTxn({ transactionalId, groupId }: { transactionalId: string; groupId: string }) {
    this.addOffsets.push({ transactionalId, groupId });
    const code = this.refusals.shift();
    if (code !== undefined) throw createErrorFromCode(code);
  }

  async txnOffsetCommit(request: { topics: unknown }) {
    this.offsetCommits.push(request.topics);
  }

  async endTxn({ transactionResult }: { transactionResult: boolean }) {
    this.endTxns.push(transactionResult);
  }
}

/**
 * A transaction manager on a fake cluster whose client-wide retry settings allow no retry (the
 * patched request uses the producer's, `producerRetries`). The transaction coordinator is
 * `coordinators[0]` for the first `movesAfter` lookups, then `coordinators[1]`.
 */
function harness(coordinators: FakeCoordinator[], producerRetries: number, movesAfter = Number.POSITIVE_INFINITY) {
  const group = new FakeCoordinator(99);
  let transactionLookups = 0;
  const cluster = {
    retry: { initialRetryTime: 1, retries: 0 },
    async refreshMetadataIfNecessary() {},
    async findGroupCoordinator({ coordinatorType }: { coordinatorType: number }) {
      if (coordinatorType === COORDINATOR_TYPE_GROUP) return group;
      assert.equal(coordinatorType, COORDINATOR_TYPE_TRANSACTION);
      transactionLookups++;
      return transactionLookups > movesAfter ? coordinators[1] : coordinators[0];
    },
  };
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const eos = createEosManager({ logger, cluster, transactional: true, transactionalId: 'app-1', retry: { initialRetryTime: 1, retries: producerRetries } });
  return { eos, group, lookups: () => transactionLookups };
}

const offsets = { consumerGroupId: 'app', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '42' }] }] };

async function transactionWithOffsets(eos: ReturnType<typeof harness>['eos']) {
  await eos.initProducerId();
  eos.beginTransaction();
  await eos.sendOffsets(offsets);
  await eos.commit();
}

test('AddOffsetsToTxn answered CONCURRENT_TRANSACTIONS or GROUP_LOAD_IN_PROGRESS is sent again until the coordinator takes it; the offsets are committed once', async () => {
  const coordinator = new FakeCoordinator(1, [CONCURRENT_TRANSACTIONS, CONCURRENT_TRANSACTIONS, GROUP_LOAD_IN_PROGRESS]);
  const { eos, group } = harness([coordinator], 5);
  await transactionWithOffsets(eos);
  assert.deepEqual(coordinator.addOffsets, Array.from({ length: 4 }, () => ({ transactionalId: 'app-1', groupId: 'app' })));
  assert.deepEqual(group.offsetCommits, [[{ topic: 'in', partitions: [{ partition: 0, offset: '42' }] }]]);
  assert.deepEqual(coordinator.endTxns, [true], 'the transaction holds the offsets, so it is committed');
});

test('a coordinator that answers NOT_COORDINATOR is looked up again, and the request goes to the new one', async () => {
  const old = new FakeCoordinator(1, [NOT_COORDINATOR_FOR_GROUP]);
  const moved = new FakeCoordinator(2);
  // Lookups: initProducerId, the refused attempt, then the retry finds the new coordinator.
  const { eos, lookups } = harness([old, moved], 5, 2);
  await transactionWithOffsets(eos);
  assert.equal(old.addOffsets.length, 1);
  assert.equal(moved.addOffsets.length, 1);
  assert.equal(lookups(), 4, 'one lookup per attempt, and one for the commit');
  assert.deepEqual(moved.endTxns, [true]);
});

test('any other answer is thrown at once, without a retry', async () => {
  const coordinator = new FakeCoordinator(1, [INVALID_PRODUCER_EPOCH]);
  const { eos, group } = harness([coordinator], 5);
  await eos.initProducerId();
  eos.beginTransaction();
  await assert.rejects(eos.sendOffsets(offsets), (err: ProtocolError) => err.type === 'INVALID_PRODUCER_EPOCH');
  assert.equal(coordinator.addOffsets.length, 1);
  assert.deepEqual(group.offsetCommits, []);
});

test('the retries are bounded by the producer\'s retry settings, not the client-wide ones', async () => {
  const coordinator = new FakeCoordinator(1, Array.from({ length: 10 }, () => CONCURRENT_TRANSACTIONS));
  const { eos, group } = harness([coordinator], 3);
  await eos.initProducerId();
  eos.beginTransaction();
  await assert.rejects(eos.sendOffsets(offsets), (err: Error) => /concurrent operation/.test(err.message));
  assert.equal(coordinator.addOffsets.length, 4, 'the first attempt and 3 retries (the client-wide setting allows none)');
  assert.deepEqual(group.offsetCommits, []);
});
