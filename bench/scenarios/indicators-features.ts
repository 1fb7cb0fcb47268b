/**
 * What the model features cost in the indicators process: the same 1 m candles (2,880 symbols, a final
 * and an in-progress version per bar, 6 partitions) through the indicators service with
 * INDICATOR_FEATURES=false and =true, alternated ROUNDS times in one run (medians), each from scratch.
 * The figures that decide where the features are computed: the throughput ratio and the process CPU
 * time per candle with and without them. A separate features process would repeat the whole
 * per-candle path of the process without them (consume, decode, validate, state, changelog,
 * transaction) to add what the difference between the two costs here. Beside them, in the bench
 * process itself, the features' arithmetic and their Avro encoding per bar.
 */
import { AvroSerde } from '../../lib/serde.js';
import avro from 'avsc';
import { CandleSchema, FeaturesSchema } from '../../schemas/generated/schemas.js';
import type { Candle, Features } from '../../schemas/generated/types.js';
import { stepBar } from '../../stream-processors/indicators/features.js';
import { newIndicatorState, stepIndicators, type IndicatorState } from '../../stream-processors/indicators/indicators.js';
import { sessionFields } from '../../stream-processors/candles/sessions.js';
import { testKafka } from '../../test/helpers/kafka.js';
import { sliceEnv, stopAll } from '../../test/helpers/pipeline.js';
import { stackEnv } from '../../test/helpers/stack.js';
import { yesterdayAt } from '../../test/helpers/time.js';
import { Random } from '../../producers/simulator/random.js';
import { cpuTimes, stealShare, type BenchFigure, type BenchScenario } from '../harness.js';
import { serviceCatchUp } from './processors-catchup.js';

const SYMBOLS = 2_880;
const BARS = 30;
const ROUNDS = 3;
const M = 60_000_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** A random walk per symbol: each bar an in-progress version, then its final. */
function* candles(): Generator<Candle> {
  const rng = new Random(11);
  const t0 = yesterdayAt('00:00').getTime() * 1000;
  const prices = Array.from({ length: SYMBOLS }, () => rng.int(100, 2000) * 50);
  for (let i = 0; i < BARS; i++) {
    for (let s = 0; s < SYMBOLS; s++) {
      const open = prices[s] as number;
      const close = Math.max(50, open + rng.int(-5, 5) * 50);
      prices[s] = close;
      const volume = rng.int(1, 10_000);
      const c: Candle = {
        symbol: String(100_000 + s * 3), interval: '1m', windowStart: t0 + i * M, windowEnd: t0 + (i + 1) * M, open, high: Math.max(open, close) + 50, low: Math.min(open, close),
        close, volume, tradedValue: volume * close, tradeCount: 1 + (volume % 17), vwap: close, isFinal: false, emittedAt: 0, ...sessionFields({ session: 'REGULAR' }),
      };
      yield c;
      yield { ...c, isFinal: true };
    }
  }
}

/**
 * The features' own share, in process and quiet: nanoseconds per final bar of stepIndicators alone and
 * of stepBar (indicators + features), and of encoding one Features record, over the same candles.
 */
function coreCost(bars: Candle[]): { indicatorsNs: number; barNs: number; encodeNs: number } {
  const time = (fn: () => void) => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / bars.length;
  };
  const states = () => new Map<string, IndicatorState>();
  const run = (step: (s: IndicatorState, c: Candle) => unknown) => () => {
    const m = states();
    for (const c of bars) {
      let s = m.get(c.symbol);
      if (!s) m.set(c.symbol, (s = newIndicatorState()));
      step(s, c);
    }
  };
  const type = avro.Type.forSchema(FeaturesSchema);
  const state = newIndicatorState();
  const records: Features[] = bars.slice(0, 20_000).map((c) => ({ ...c, ...stepBar(state, c, true).features, emittedAt: 0 }));
  const encodeRuns: number[] = [];
  const indicatorRuns: number[] = [];
  const barRuns: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    indicatorRuns.push(time(run((s, c) => stepIndicators(s, c, true))));
    barRuns.push(time(run((s, c) => stepBar(s, c, true))));
    const t0 = process.hrtime.bigint();
    for (const r of records) type.toBuffer(r);
    encodeRuns.push(Number(process.hrtime.bigint() - t0) / records.length);
  }
  return { indicatorsNs: median(indicatorRuns), barNs: median(barRuns), encodeNs: median(encodeRuns) };
}

export const scenario: BenchScenario = {
  name: 'indicators-features',
  description:
    `${(SYMBOLS * BARS * 2).toLocaleString('en-US')} 1 m candles (${SYMBOLS.toLocaleString('en-US')} symbols × ${BARS} bars, an in-progress and a final version each, 6 partitions) ` +
    `already in Kafka, through the indicators service from scratch with its model features off and on (INDICATOR_FEATURES), alternated ${ROUNDS} times in one run (medians); ` +
    'then, in the bench process, the indicator and feature arithmetic per final bar and the Avro encoding of a Features record.',
  needsStack: true,
  async run(): Promise<BenchFigure[]> {
    const { common, ns } = sliceEnv('benchfeat');
    const env = { ...common, TOPIC_PARTITIONS: '6', INDICATOR_INTERVALS: '1m' };
    const topic = `${ns.topicNamespace}market.candles.1m.v1`;
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
    await admin.disconnect();
    const writer = await new AvroSerde(stackEnv().SCHEMA_REGISTRY_URL).registerValueSchema<Candle>(topic, CandleSchema);
    const producer = testKafka().producer();
    await producer.connect();
    let batch: Array<{ key: string; value: Buffer }> = [];
    let total = 0;
    for (const c of candles()) {
      batch.push({ key: c.symbol, value: writer.encode(c) });
      if (batch.length === 10_000) {
        await producer.send({ topic, messages: batch });
        total += batch.length;
        batch = [];
      }
    }
    await producer.send({ topic, messages: batch });
    total += batch.length;
    await producer.disconnect();

    const cpuAtStart = cpuTimes();
    const runs: Record<'off' | 'on', Array<{ rate: number; cpuPerRecord: number }>> = { off: [], on: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['off', 'on'] as const) {
        const r = await serviceCatchUp('stream-processors/indicators/main.js', { ...env, INDICATORS_APP_ID: `${ns.id}-ind-${round}-${mode}`, INDICATOR_FEATURES: String(mode === 'on') }, 'indicators_1m_candles_in_total', total);
        await stopAll(r.service);
        runs[mode].push({ rate: r.rate, cpuPerRecord: r.cpuPerRecord });
      }
    }
    const core = coreCost([...candles()].filter((c) => c.isFinal));
    const steal = stealShare(cpuAtStart, cpuTimes());
    const rates = (mode: 'off' | 'on') => runs[mode].map((r) => r.rate);
    const micros = (mode: 'off' | 'on') => runs[mode].map((r) => r.cpuPerRecord * 1e6);
    return [
      { name: 'indicators only (INDICATOR_FEATURES=false), median', value: median(rates('off')), unit: 'candles/s', notes: `runs: ${rates('off').map(Math.round).join(', ')}` },
      { name: 'indicators + features (one pass, two outputs), median', value: median(rates('on')), unit: 'candles/s', notes: `runs: ${rates('on').map(Math.round).join(', ')}` },
      { name: 'with features / without (same run)', value: median(rates('on').map((r, i) => r / (rates('off')[i] as number))), unit: '×' },
      { name: 'process CPU per candle without features, median', value: median(micros('off')), unit: 'µs', higherIsBetter: false, notes: `runs: ${micros('off').map((x) => x.toFixed(1)).join(', ')}` },
      { name: 'process CPU per candle with features, median', value: median(micros('on')), unit: 'µs', higherIsBetter: false, notes: `runs: ${micros('on').map((x) => x.toFixed(1)).join(', ')}` },
      { name: 'in process: stepIndicators per final bar, median', value: core.indicatorsNs, unit: 'ns', higherIsBetter: false },
      { name: 'in process: stepBar (indicators + features) per final bar, median', value: core.barNs, unit: 'ns', higherIsBetter: false },
      { name: 'in process: Avro encode of one Features record, median', value: core.encodeNs, unit: 'ns', higherIsBetter: false },
      { name: 'CPU taken by the hypervisor (steal) during the run', value: Math.round(steal * 100), unit: '%' },
    ];
  },
};
