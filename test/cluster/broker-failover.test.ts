import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { groupCoordinatorOf } from '../helpers/kafka.js';
import { assertPipelineExact, healthStatus, simulatedTicks, sliceEnv, startLivePipeline, stopAll, waitForGroupCaughtUp } from '../helpers/pipeline.js';
import type { RunningService } from '../helpers/service-process.js';
import { killServer, stackWith, useKafkaBrokers } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// A three-node KRaft cluster of this test's own, beside the stack's one-node Kafka (which keeps
// serving the schema registry). Ports 29092–29097 unless KMARKET_FAILOVER_KAFKA_PORT moves them.
const basePort = Number(process.env['KMARKET_FAILOVER_KAFKA_PORT'] ?? 29092);
const cluster = {
  KMARKET_STACK_HOME: mkdtempSync(join(tmpdir(), 'kmarket-3-brokers-')),
  KAFKA_NODES: '3',
  KAFKA_PORT: String(basePort),
  KAFKA_CONTROLLER_PORT: String(basePort + 1),
};
const running: RunningService[] = [];
let pointBack = () => {};
after(async () => {
  await stopAll(...running);
  pointBack();
  stackWith(cluster, 'reset');
});

test('one of three brokers killed with SIGKILL under load (replication factor 3, min.insync.replicas 2): nothing lost, no service exits', async (t) => {
  stackWith(cluster, 'up', 'kafka', 'kafka2', 'kafka3');
  const brokers = [0, 2, 4].map((d) => `127.0.0.1:${basePort + d}`).join(',');
  pointBack = useKafkaBrokers(brokers);
  const { common: base, ns, ticksTopic } = sliceEnv('failover');
  const common = { ...base, KAFKA_BROKERS: brokers, KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' };
  const { processor, sink, simulator } = await startLivePipeline(common, ns, running, { symbols: 50, ticksPerSecond: 500, seconds: 30, seed: 5 });

  // The candle processor's group coordinator, which leads some partitions too: the hardest broker to
  // lose (kafkajs keeps the coordinator it joined through; a consumer whose coordinator died delivered
  // nothing for 3 minutes until its retries ran out — in CI, where the group happened to sit there).
  const coordinator = await groupCoordinatorOf(`${ns.id}-candles`);
  const sinkCoordinator = await groupCoordinatorOf(`${ns.id}-questdb-sink`);
  t.diagnostic(`killing node ${coordinator}, the candle group's coordinator (the sink's group: node ${sinkCoordinator})`);
  await killServer(coordinator === 1 ? 'kafka' : coordinator === 2 ? 'kafka2' : 'kafka3', cluster.KMARKET_STACK_HOME);
  const killedAt = Date.now();
  assert.equal(await simulator.exited, 0, 'the simulator finished its run');
  t.diagnostic(`the simulator ended ${Date.now() - killedAt} ms after the kill`);
  const produced = simulatedTicks(simulator);
  await waitForGroupCaughtUp(`${ns.id}-candles`, ticksTopic, 120_000);
  await waitForGroupCaughtUp(`${ns.id}-questdb-sink`, ticksTopic, 120_000);
  for (const s of [processor, sink]) {
    assert.equal(s.child.exitCode, null, `${s.entry} kept running`);
    await waitFor(`${s.entry} healthy`, async () => ((await healthStatus(s)) === 200 ? true : undefined));
  }
  await assertPipelineExact(ns, ticksTopic, produced);
});
