/**
 * The KIS producer's outage path without Kafka: one minute of the simulated market at 10,000 trades/s
 * (200 listings, seed 42) formatted as KIS H0STCNT0 frames of one record (KIS's usual frame), read by
 * the producer's FrameProcessor (raw frame + Avro tick per trade) into the SpoolingSink while "Kafka"
 * acknowledges nothing, so after KIS_BUFFER_MAX_AGE_MS every frame goes to the spool on disk. Then
 * "Kafka" acknowledges everything handed to it and the spool is replayed. Measured: spool bytes per
 * trade; the memory buffer (kis_buffer_bytes) after the minute; the process's memory (heap + array
 * buffers, after a full GC) after the minute against before it; trades spooled per second (parse,
 * encode, append) and replayed per second (read, check, decode, hand over). Not timed: generating and
 * formatting the market.
 */
import avro from 'avsc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Message } from 'kafkajs';
import { Registry } from 'prom-client';
import { DeadLetterQueue } from '../../lib/dlq.js';
import { createLogger } from '../../lib/logger.js';
import { FrameProcessor } from '../../producers/kis/frame-processor.js';
import { createKisMetrics } from '../../producers/kis/metrics.js';
import { Spool } from '../../producers/kis/spool.js';
import { SpoolingSink } from '../../producers/kis/spooling-sink.js';
import { generateListings } from '../../producers/simulator/listings.js';
import { MarketSimulator } from '../../producers/simulator/market.js';
import { TickSchema } from '../../schemas/generated/schemas.js';
import type { Tick } from '../../schemas/generated/types.js';
import { KisRecordFormatter } from '../../test/fakes/kis/format.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';

// Memory is compared after a full collection, so garbage not yet collected does not count as held.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const RATE = 10_000;
const SECONDS = 60;
const MAX_AGE_MS = 2_000;

export const scenario: BenchScenario = {
  name: 'kis-spool',
  description: `KIS producer during a Kafka outage, no Kafka: ${SECONDS} s of ${RATE.toLocaleString('en-US')} trades/s as one-record H0STCNT0 frames through FrameProcessor and SpoolingSink into the spool, then replayed`,
  needsStack: false,
  async run(): Promise<BenchFigure[]> {
    const start = Date.parse('2026-12-01T01:00:00Z') * 1000;
    const frames = marketFrames(start);

    const dir = mkdtempSync(join(tmpdir(), 'bench-kis-spool-'));
    const logger = createLogger('bench', { level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const registry = new Registry();
    const metrics = createKisMetrics(registry);
    const clock = { now: 0 };
    let handedSinceAck = 0;
    const kafka = { push: (_t: string, _m: Message) => undefined, frameDone: () => void handedSinceAck++ };
    const spool = Spool.open({ dir, maxBytes: 64 * 1024 * 1024 * 1024, segmentBytes: 64 * 1024 * 1024 });
    const sink = new SpoolingSink(kafka, spool, { maxBufferBytes: 64 * 1024 * 1024, maxBufferAgeMs: MAX_AGE_MS, fsyncMs: 1_000 }, metrics, logger, () => clock.now);
    const tickType = avro.Type.forSchema(TickSchema as avro.Schema);
    const header = Buffer.from([0, 0, 0, 0, 1]);
    const processor = new FrameProcessor({
      sink,
      topics: { ticks: 'ticks', orderbook: 'orderbook', raw: 'raw' },
      encodeTick: (t: Tick) => Buffer.concat([header, tickType.toBuffer(t)]),
      encodeBook: () => Buffer.alloc(0),
      dlq: new DeadLetterQueue('dlq', 'bench', registry, logger),
      metrics,
    });
    const turn = () => new Promise((r) => setImmediate(r));
    try {
      const memory = () => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      // The first MAX_AGE_MS of the outage fill the memory buffer; from then on everything is spooled.
      const firstSpooled = Math.round((RATE * MAX_AGE_MS) / 1000);
      const before = memory();
      let spoolingFrom = { memory: 0, frame: 0 };
      const machine = cpuTimes();
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < frames.length; i++) {
        clock.now = (i / RATE) * 1000;
        processor.handle(frames[i] as string, start + i * 100, () => undefined, 0);
        if (i === firstSpooled) sink.check();
        if (i === firstSpooled + RATE) spoolingFrom = { memory: memory(), frame: i };
        if (i % 500 === 0) await turn(); // the frames of one socket read are written together
      }
      await turn();
      const spoolSeconds = (performance.now() - t0) / 1000;
      const spoolCpu = process.cpuUsage(cpu);
      const bufferBytes = (await metrics.bufferBytes.get()).values[0]?.value ?? 0;
      const after = memory();
      const held = after - before;
      const growthPerMinute = (after - spoolingFrom.memory) / ((frames.length - spoolingFrom.frame) / RATE / 60);
      const spoolBytes = spool.bytes;
      const spooledTrades = frames.length - firstSpooled;

      // Kafka is back: acknowledge whatever was handed over, until the spool is drained.
      const t1 = performance.now();
      clock.now += 10_000;
      while (sink.health()['spooling'] === true) {
        const n = handedSinceAck;
        handedSinceAck = 0;
        if (n > 0) sink.settled(n);
        await turn();
      }
      const replaySeconds = (performance.now() - t1) / 1000;
      const replayed = (await metrics.replayedFrames.get()).values[0]?.value ?? 0;
      const steal = stealShare(machine, cpuTimes());
      return [
        { name: 'spool bytes per trade (one-record frames: raw frame + Avro tick + record header)', value: Math.round(spoolBytes / spooledTrades), unit: 'bytes', higherIsBetter: false, notes: `${spoolBytes} bytes for ${spooledTrades} trades` },
        { name: `memory buffer after a minute of outage at ${RATE.toLocaleString('en-US')} trades/s (kis_buffer_bytes)`, value: Number((bufferBytes / 1e6).toFixed(1)), unit: 'MB', higherIsBetter: false, notes: `the frames of the first ${MAX_AGE_MS} ms (${firstSpooled}), held until Kafka acknowledges them; the rest is on disk, so it does not grow with the outage` },
        { name: 'process memory after the minute against before (heap + array buffers, after a full GC)', value: Number((held / 1e6).toFixed(1)), unit: 'MB', higherIsBetter: false, notes: `of which growth after spooling began: ${(growthPerMinute / 1e6).toFixed(1)} MB per minute, in array buffers (the heap stayed flat in a check run; not explained yet)` },
        { name: 'trades spooled per second (parse, Avro-encode, append)', value: Math.round(frames.length / spoolSeconds), unit: 'trades/s', notes: `${frames.length} frames in ${spoolSeconds.toFixed(2)} s, ${((spoolCpu.user + spoolCpu.system) / frames.length).toFixed(1)} µs CPU per trade; ${Math.round(steal * 100)}% steal` },
        { name: 'trades replayed per second (read, check, decode, hand over)', value: Math.round(replayed / replaySeconds), unit: 'trades/s', notes: `${replayed} frames in ${replaySeconds.toFixed(2)} s` },
      ];
    } finally {
      await sink.close(async () => undefined, 0);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * The minute of market as frame texts, flat like the strings the WebSocket delivers (a template
 * string is a rope V8 flattens on first read, which would count as memory the sink holds).
 */
function marketFrames(start: number): string[] {
  const listings = generateListings(200, 42);
  const sim = new MarketSimulator({ listings, seed: 42, ticksPerSecond: RATE, mode: 'always', orderBooks: false, source: 'KIS' });
  const formatter = new KisRecordFormatter(listings);
  return sim.advance(start, start + SECONDS * 1_000_000).ticks.map((t) => Buffer.from(`0|H0STCNT0|001|${formatter.trade(t, true)}`).toString());
}
