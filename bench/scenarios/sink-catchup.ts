/**
 * The QuestDB sink catching up: 1,000,000 ticks (2,880 symbols, 6 partitions) already in Kafka, into
 * `ticks`, beside what its parts can do on their own in the same run:
 *   - raw kafkajs eachBatch consume of the same topic (the input ceiling);
 *   - QuestDB's own ceiling: the same rows as prebuilt ILP payloads of 20,000 rows, posted one after
 *     another by a tight loop into an identical fresh table (WAL, the same DEDUP keys);
 *   - the same payloads through the official client's HTTP transport (ours is node:http, keep-alive),
 *     into a third table: which transport the sink should use;
 *   - the bare official client (@questdb/nodejs-client, protocol 2, one `await at()` per row and a
 *     flush every 20,000 rows: the old sink's pattern) into another identical table;
 *   - the sink process itself (sinks/questdb/main.ts), from its first flush.
 * Rates count a table's rows as written once a query sees them all (count and WAL applied).
 * BENCH_SINK_TICKS changes the number of ticks (default 1,000,000).
 */
import { availableParallelism } from 'node:os';
import { createTransport, Sender, SenderOptions } from '@questdb/nodejs-client';
import { AvroSerde } from '../../lib/serde.js';
import type { Tick } from '../../schemas/generated/types.js';
import { IlpBuffer } from '../../sinks/questdb/ilp.js';
import { IlpHttpWriter, questdbExec } from '../../sinks/questdb/questdb-http.js';
import { questdbMappings, type TableMapping } from '../../sinks/questdb/tables.js';
import { topicCatalogue } from '../../lib/topics.js';
import { metricValue } from '../../test/helpers/metrics.js';
import { simulate, sliceEnv } from '../../test/helpers/pipeline.js';
import { startService } from '../../test/helpers/service-process.js';
import { stackEnv } from '../../test/helpers/stack.js';
import { cpuTimes, loadAverage, serverCpuSeconds, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { questdbCpuSeconds, waitApplied } from '../questdb-probe.js';
import { rawConsume } from './processors-catchup.js';

const TICKS = Number(process.env['BENCH_SINK_TICKS'] ?? 1_000_000);
const SYMBOLS = 2_880;
const PER_REQUEST = 20_000;

interface Phase {
  load: number;
  rate: number;
  seconds: number;
  questdbCores: number;
  kafkaCores: number;
  steal: number;
}

/** Runs `work` and measures it: rows per second of `rows`, QuestDB's and Kafka's cores, the machine's steal. */
async function phase(rows: number, work: () => Promise<number | void>): Promise<Phase> {
  const machine = cpuTimes();
  const [q0, k0] = [questdbCpuSeconds(), serverCpuSeconds('kafka')];
  const t0 = performance.now();
  const end = (await work()) ?? performance.now();
  const seconds = (end - t0) / 1000;
  const cores = (now: number, before: number) => (now - before) / seconds;
  return { load: loadAverage(), rate: rows / seconds, seconds, questdbCores: cores(questdbCpuSeconds(), q0), kafkaCores: cores(serverCpuSeconds('kafka'), k0), steal: stealShare(machine, cpuTimes()) };
}

async function freshTable(mapping: TableMapping<unknown>, name: string): Promise<TableMapping<unknown>> {
  const m = questdbMappings(topicCatalogue(), '', [{ ...mapping.spec, table: name }]).values().next().value as TableMapping<unknown>;
  await questdbExec(stackEnv().QUESTDB_HTTP_URL, m.ddl);
  return m;
}

export const scenario: BenchScenario = {
  name: 'sink-catchup',
  description:
    `QuestDB sink catch-up: ${TICKS.toLocaleString('en-US')} ticks (${SYMBOLS.toLocaleString('en-US')} symbols, 6 partitions) already in Kafka → \`ticks\`, ` +
    'one sink process, beside raw kafkajs consume, QuestDB\'s own ceiling (prebuilt ILP posted by a tight loop) and the bare official client, all in the same run',
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const { common, ns, ticksTopic } = sliceEnv('benchsink');
    const env = { ...common, TOPIC_PARTITIONS: '6' };
    const questdbUrl = stackEnv().QUESTDB_HTTP_URL;
    // Exchange times (the records' Kafka timestamps) of the last hour: older ones fall out of the
    // topic's 7-day retention at the broker's next check, in the middle of the run.
    const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString();
    await simulate(env, { symbols: SYMBOLS, ticksPerSecond: 10_000, seconds: TICKS / 10_000, start, seed: 11 });
    const log = (what: string) => console.log(`  ${new Date().toISOString()} ${what}`);
    log(`${TICKS} ticks in Kafka`);
    const tables: string[] = [];

    // 1. Raw kafkajs consume of the topic, keeping the values for the next phases.
    const values: Buffer[] = [];
    const steal0 = cpuTimes();
    const raw = { ...(await rawConsume(ticksTopic, TICKS, (messages) => {
      for (const m of messages) values.push(m.value as Buffer);
    })), steal: stealShare(steal0, cpuTimes()) };
    log('raw consume done');

    // Decoded once, outside every measured phase.
    const serde = new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL);
    const tickMapping = questdbMappings(topicCatalogue(ns.topicNamespace), ns.tablePrefix).get(ticksTopic) as TableMapping<unknown>;
    const ticks: Tick[] = [];
    for (const v of values) ticks.push(await serde.decode<Tick>(v, tickMapping.reader));
    values.length = 0;

    // 2. QuestDB's ceiling: prebuilt payloads posted one after another.
    const ceilingTable = await freshTable(tickMapping, `${ns.tablePrefix}ceiling_ticks`);
    tables.push(ceilingTable.table);
    const transportTable = await freshTable(tickMapping, `${ns.tablePrefix}transport_ticks`);
    tables.push(transportTable.table);
    const build = (mapping: TableMapping<unknown>) => {
      const payloads: Buffer[] = [];
      for (let i = 0; i < ticks.length; i += PER_REQUEST) {
        const out = new IlpBuffer(PER_REQUEST * 256);
        for (const t of ticks.slice(i, i + PER_REQUEST)) mapping.encoder.encode(t, out);
        payloads.push(Buffer.from(out.bytes()));
      }
      return payloads;
    };
    let payloads = build(ceilingTable);
    const writer = new IlpHttpWriter(questdbUrl);
    const ceiling = await phase(TICKS, async () => {
      for (const p of payloads) await writer.post(p);
      return waitApplied(ceilingTable.table, TICKS);
    });
    writer.close();
    log('ceiling done');
    payloads = build(transportTable);
    const transport = createTransport(new SenderOptions(`http::addr=${new URL(questdbUrl).host};protocol_version=2;retry_timeout=10000;stdlib_http=on`));
    const viaClient = await phase(TICKS, async () => {
      for (const p of payloads) await transport.send(p);
      return waitApplied(transportTable.table, TICKS);
    });
    await transport.close();
    payloads = [];

    // 3. The bare official client, the old sink's pattern.
    const clientTable = await freshTable(tickMapping, `${ns.tablePrefix}client_ticks`);
    tables.push(clientTable.table);
    const sender = await Sender.fromConfig(`http::addr=${new URL(questdbUrl).host};protocol_version=2;auto_flush=off;retry_timeout=10000;stdlib_http=on`);
    const bare = await phase(TICKS, async () => {
      let n = 0;
      for (const t of ticks) {
        await sender.table(clientTable.table).symbol('symbol', t.symbol).symbol('side', t.side).symbol('source', t.source).symbol('session_code', t.sessionCode)
          .intColumn('price', t.price).intColumn('quantity', t.quantity).intColumn('cumulative_volume', t.cumulativeVolume).intColumn('cumulative_value', t.cumulativeValue)
          .intColumn('seq', t.sequence).booleanColumn('halted', t.halted).timestampColumn('ingest_time', t.ingestTime, 'us').at(t.exchangeTime, 'us');
        if (++n % PER_REQUEST === 0) await sender.flush();
      }
      await sender.flush();
      return waitApplied(clientTable.table, TICKS);
    });
    await sender.close();
    ticks.length = 0;
    log('bare client done');

    // 4. The sink process, from its first flush to every row applied.
    const sink = startService('sinks/questdb/main.js', { ...env, SINK_TOPICS: 'market.ticks.v1' });
    tables.push(tickMapping.table);
    let sinkPhase: Phase & { cores: number; fromRows: number };
    try {
      await sink.waitForLog(/QuestDB sink running/);
      let written = 0;
      const deadline = Date.now() + 120_000;
      while ((written = await metricValue(sink, 'sink_rows_written_total')) === 0) {
        if (Date.now() > deadline) throw new Error(`the sink wrote nothing in 2 minutes:\n${sink.output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const cpu0 = await metricValue(sink, 'process_cpu_seconds_total');
      const p = await phase(TICKS - written, () => waitApplied(tickMapping.table, TICKS));
      sinkPhase = { ...p, fromRows: written, cores: ((await metricValue(sink, 'process_cpu_seconds_total')) - cpu0) / p.seconds };
    } finally {
      await sink.stop();
    }
    for (const t of tables) await questdbExec(questdbUrl, `DROP TABLE IF EXISTS "${t}"`).catch(() => undefined);

    const pct = (x: number) => `${Math.round(x * 100)}%`;
    const ratio = sinkPhase.rate / ceiling.rate;
    // What no sink design could beat on this machine: every core busy with the sink's, Kafka's and
    // QuestDB's work per row as this run measured them, QuestDB's at its cheaper of the two phases.
    const cores = availableParallelism();
    const perRow = (coresUsed: number, rate: number) => coresUsed / rate;
    const sinkCpu = perRow(sinkPhase.cores, sinkPhase.rate);
    const kafkaCpu = perRow(sinkPhase.kafkaCores, sinkPhase.rate);
    const questdbCpu = Math.min(perRow(sinkPhase.questdbCores, sinkPhase.rate), perRow(ceiling.questdbCores, ceiling.rate));
    const cpuBound = cores / (sinkCpu + kafkaCpu + questdbCpu) / ceiling.rate;
    const us = (seconds: number) => (seconds * 1e6).toFixed(2);
    return [
      { name: 'sink catch-up into ticks, one process', value: Math.round(sinkPhase.rate), unit: 'rows/s', target: 100_000, notes: `${(TICKS - sinkPhase.fromRows).toLocaleString('en-US')} rows after the first flush in ${sinkPhase.seconds.toFixed(1)} s; sink ${sinkPhase.cores.toFixed(2)} cores (${us(sinkCpu)} µs CPU per row), QuestDB ${sinkPhase.questdbCores.toFixed(2)} cores, Kafka ${sinkPhase.kafkaCores.toFixed(2)}; ${pct(sinkPhase.steal)} steal; load average ${sinkPhase.load} on ${cores} cores` },
      { name: 'sink ÷ QuestDB ceiling, same run', value: Number(ratio.toFixed(2)), unit: '×', target: 0.7 },
      {
        name: `the most a sink could reach at this run's CPU per row, all ${cores} cores busy ÷ QuestDB ceiling`,
        value: Number(cpuBound.toFixed(2)),
        unit: '×',
        notes: `CPU per row: sink ${us(sinkCpu)} µs (of which raw kafkajs consume alone takes ${us(raw.cpuPerRecord)}), Kafka ${us(kafkaCpu)} µs (${us(raw.kafkaCpuPerRecord)} for raw consume), QuestDB ${us(questdbCpu)} µs`,
      },
      { name: 'QuestDB ceiling: prebuilt ILP, 20,000-row requests back to back', value: Math.round(ceiling.rate), unit: 'rows/s', notes: `${ceiling.seconds.toFixed(1)} s to applied; QuestDB ${ceiling.questdbCores.toFixed(2)} cores; ${pct(ceiling.steal)} steal; load average ${ceiling.load}` },
      { name: 'the same prebuilt payloads through the official client\'s HTTP transport', value: Math.round(viaClient.rate), unit: 'rows/s', notes: `${viaClient.seconds.toFixed(1)} s to applied; QuestDB ${viaClient.questdbCores.toFixed(2)} cores; ${pct(viaClient.steal)} steal; the ceiling above uses the sink's own transport (node:http keep-alive)` },
      { name: 'bare official client, await at() per row, flush per 20,000', value: Math.round(bare.rate), unit: 'rows/s', notes: `${bare.seconds.toFixed(1)} s to applied; QuestDB ${bare.questdbCores.toFixed(2)} cores; ${pct(bare.steal)} steal` },
      { name: 'raw kafkajs eachBatch consume of the same topic', value: Math.round(raw.rate), unit: 'msg/s', notes: `${us(raw.cpuPerRecord)} µs CPU per message in the consumer, ${us(raw.kafkaCpuPerRecord)} µs in Kafka; ${pct(raw.steal)} steal` },
    ];
  },
};
