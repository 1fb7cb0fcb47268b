import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// kafkajs's transaction manager as patched by patches/kafkajs+2.2.4.patch (producer/eosManager):
// - the AddOffsetsToTxn request of `sendOffsets` is retried with the producer's retry settings while the
//   coordinator answers that it is busy with the previous transaction, loading, or no longer the
//   coordinator, as the Java client does; any other answer is thrown at once;
// - TxnOffsetCommit is retried the same way while the group coordinator loads or has moved (unpatched,
//   its lists of such errors held names kafkajs never gives an error), and EndTxn while the transaction
//   coordinator is busy, loading or has moved (unpatched, never retried);
// - the transaction and group coordinators are remembered between requests, and forgotten when a
//   request to them fails other than busy or loading (unpatched, a FindCoordinator round trip
//   preceded every request).
// Against fake coordinators that answer from a script. The round trip with the real broker is
// test/integration/kafkajs-patches.test.ts.
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

/**
 * A broker whose AddOffsetsToTxn answers are the error codes in `refusals`, in order, then success;
 * its TxnOffsetCommit and EndTxn answers likewise from `commitRefusals` and `endTxnRefusals`.
 */
class FakeCoordinator {
  readonly addOffsets: Array<{ transactionalId: string; groupId: string }> = [];
  readonly offsetCommits: unknown[] = [];
  readonly endTxns: boolean[] = [];

  /** EndTxn requests received, refused or not. */
  endTxnAttempts = 0;

  constructor(
    readonly nodeId: number,
    private readonly refusals: number[] = [],
    private readonly commitRefusals: number[] = [],
    /** EndTxn's answers: an error code, or 'no answer' (the connection dropped). */
    private readonly endTxnRefusals: Array<number | 'no answer'> = [],
  ) {}

  async initProducerId() {
    return { producerId: 7, producerEpoch: 0 };
  }

  async addOffsetsToTxn({ transactionalId, groupId }: { transactionalId: string; groupId: string }) {
    this.addOffsets.push({ transactionalId, groupId });
    const code = this.refusals.shift();
    if (code !== undefined) throw createErrorFromCode(code);
  }

  async txnOffsetCommit(request: { topics: unknown }) {
    const code = this.commitRefusals.shift();
    if (code !== undefined) throw createErrorFromCode(code);
    this.offsetCommits.push(request.topics);
  }

  async endTxn({ transactionResult }: { transactionResult: boolean }) {
    this.endTxnAttempts++;
    const refusal = this.endTxnRefusals.shift();
    if (refusal === 'no answer') throw Object.assign(new Error('Connection error: read ECONNRESET'), { name: 'KafkaJSConnectionError', retriable: true });
    if (refusal !== undefined) throw createErrorFromCode(refusal);
    this.endTxns.push(transactionResult);
  }
}

/**
 * A transaction manager on a fake cluster whose client-wide retry settings allow no retry (the
 * patched requests use the producer's, `producerRetries`). The transaction coordinator is
 * `coordinators[0]` for the first `movesAfter` lookups, then `coordinators[1]`; the group
 * coordinator likewise `groups[0]`, then `groups[1]` after `groupMovesAfter` lookups.
 */
function harness(
  coordinators: FakeCoordinator[],
  producerRetries: number,
  movesAfter = Number.POSITIVE_INFINITY,
  groups: FakeCoordinator[] = [new FakeCoordinator(99)],
  groupMovesAfter = Number.POSITIVE_INFINITY,
) {
  let transactionLookups = 0;
  let groupLookups = 0;
  const cluster = {
    retry: { initialRetryTime: 1, retries: 0 },
    async refreshMetadataIfNecessary() {},
    async findGroupCoordinator({ coordinatorType }: { coordinatorType: number }) {
      if (coordinatorType === COORDINATOR_TYPE_GROUP) return groups[++groupLookups > groupMovesAfter ? 1 : 0];
      assert.equal(coordinatorType, COORDINATOR_TYPE_TRANSACTION);
      return coordinators[++transactionLookups > movesAfter ? 1 : 0];
    },
    // The broker pool: no round trip to Kafka.
    async findBroker({ nodeId }: { nodeId: number }) {
      const broker = [...coordinators, ...groups].find((b) => b.nodeId === nodeId);
      assert.ok(broker, `broker ${nodeId} in the pool`);
      return broker;
    },
  };
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const eos = createEosManager({ logger, cluster, transactional: true, transactionalId: 'app-1', retry: { initialRetryTime: 1, retries: producerRetries } });
  return { eos, group: groups[0] as FakeCoordinator, lookups: () => transactionLookups, groupLookups: () => groupLookups };
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
  const { eos, group, lookups } = harness([coordinator], 5);
  await transactionWithOffsets(eos);
  assert.deepEqual(coordinator.addOffsets, Array.from({ length: 4 }, () => ({ transactionalId: 'app-1', groupId: 'app' })));
  assert.equal(lookups(), 1, 'a busy or loading coordinator is still the coordinator: not looked up again');
  assert.deepEqual(group.offsetCommits, [[{ topic: 'in', partitions: [{ partition: 0, offset: '42' }] }]]);
  assert.deepEqual(coordinator.endTxns, [true], 'the transaction holds the offsets, so it is committed');
});

test('a coordinator that answers NOT_COORDINATOR is looked up again, and the request goes to the new one', async () => {
  const old = new FakeCoordinator(1, [NOT_COORDINATOR_FOR_GROUP]);
  const moved = new FakeCoordinator(2);
  // Lookups: the first (initProducerId, remembered for AddOffsetsToTxn), then the retry finds the new coordinator.
  const { eos, lookups } = harness([old, moved], 5, 1);
  await transactionWithOffsets(eos);
  assert.equal(old.addOffsets.length, 1);
  assert.equal(moved.addOffsets.length, 1);
  assert.equal(lookups(), 2, 'looked up at first and after the refusal; the commit goes to the one remembered');
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

test('the coordinators are looked up once for many transactions, not before every request', async () => {
  const coordinator = new FakeCoordinator(1);
  const { eos, group, lookups, groupLookups } = harness([coordinator], 5);
  await eos.initProducerId();
  for (let i = 0; i < 5; i++) {
    eos.beginTransaction();
    await eos.sendOffsets(offsets);
    await eos.commit();
  }
  assert.equal(coordinator.addOffsets.length, 5);
  assert.equal(group.offsetCommits.length, 5);
  assert.deepEqual(coordinator.endTxns, [true, true, true, true, true]);
  // Unpatched: 11 (initProducerId, then AddOffsetsToTxn and EndTxn of each) and 5.
  assert.equal(lookups(), 1, 'the transaction coordinator');
  assert.equal(groupLookups(), 1, 'the group coordinator');
});

test('TxnOffsetCommit answered GROUP_LOAD_IN_PROGRESS is sent again; answered NOT_COORDINATOR, the group coordinator is looked up again', async () => {
  const loading = new FakeCoordinator(98, [], [GROUP_LOAD_IN_PROGRESS, GROUP_LOAD_IN_PROGRESS, NOT_COORDINATOR_FOR_GROUP]);
  const moved = new FakeCoordinator(97);
  const coordinator = new FakeCoordinator(1);
  // The group coordinator moves after the first lookup: the three refused attempts go to the one remembered.
  const { eos, groupLookups } = harness([coordinator], 5, Number.POSITIVE_INFINITY, [loading, moved], 1);
  await transactionWithOffsets(eos);
  assert.deepEqual(loading.offsetCommits, []);
  assert.deepEqual(moved.offsetCommits, [[{ topic: 'in', partitions: [{ partition: 0, offset: '42' }] }]]);
  assert.equal(groupLookups(), 2, 'looked up at first and after NOT_COORDINATOR; a loading coordinator is still the coordinator');
  assert.deepEqual(coordinator.endTxns, [true]);
});

test('EndTxn answered CONCURRENT_TRANSACTIONS, then NOT_COORDINATOR, is sent again, to the new coordinator after the move; the transaction commits once', async () => {
  const old = new FakeCoordinator(1, [], [], [CONCURRENT_TRANSACTIONS, NOT_COORDINATOR_FOR_GROUP]);
  const moved = new FakeCoordinator(2);
  const { eos, lookups } = harness([old, moved], 5, 1);
  await transactionWithOffsets(eos);
  assert.equal(old.endTxnAttempts, 2, 'busy, then not the coordinator');
  assert.deepEqual(old.endTxns, []);
  assert.deepEqual(moved.endTxns, [true]);
  assert.equal(lookups(), 2, 'looked up at first and after NOT_COORDINATOR only');
});

test('an EndTxn without an answer is not sent again: whether it took effect is unknown', async () => {
  const coordinator = new FakeCoordinator(1, [], [], ['no answer']);
  const { eos } = harness([coordinator], 5);
  await eos.initProducerId();
  eos.beginTransaction();
  await eos.sendOffsets(offsets);
  await assert.rejects(eos.commit(), /ECONNRESET/);
  assert.equal(coordinator.endTxnAttempts, 1);
  assert.deepEqual(coordinator.endTxns, []);
});
