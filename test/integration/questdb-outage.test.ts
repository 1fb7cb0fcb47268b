import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { metricValue } from '../helpers/metrics.js';
import { simulate, sliceEnv, stopAll } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import { startService, type RunningService } from '../helpers/service-process.js';
import { killServer, stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { yesterdayAt } from '../helpers/time.js';

const running: RunningService[] = [];
after(async () => {
  await stopAll(...running);
  stack('up', 'questdb'); // whatever happened, leave the stack as we found it
});

test('QuestDB killed with SIGKILL while ticks keep coming: the sink commits nothing early, loses nothing and writes no duplicate', async () => {
  const { common, ns } = sliceEnv('outage');
  const table = `${ns.tablePrefix}ticks`;
  const sink = startService('sinks/questdb/main.js', { ...common, SINK_TOPICS: 'market.ticks.v1', SINK_MAX_BACKOFF_MS: '2000' });
  running.push(sink);
  await sink.waitForLog(/QuestDB sink running/);

  await simulate(common, { symbols: 30, ticksPerSecond: 500, seconds: 6, start: yesterdayAt('05:00').toISOString(), seed: 1 });
  await waitFor('the first 3,000 ticks', async () => ((await questdbQuery(`select count() n from "${table}"`))[0]?.['n'] === 3000 ? true : undefined));

  // Different seconds of the same market: 3,000 more ticks in real time, and QuestDB killed with
  // SIGKILL (a crash, no shutdown) while they flow, with flushes in flight.
  const second = startService('producers/simulator/main.js', {
    ...common, SIM_SYMBOLS: '30', SIM_TICKS_PER_SECOND: '500', SIM_DURATION_SECONDS: '6', SIM_START: yesterdayAt('05:01').toISOString(), SIM_SPEED: '1', SIM_SEED: '2',
  });
  running.push(second);
  await waitFor('the sink writing the second batch', async () => ((await metricValue(sink, 'sink_rows_written_total')) > 3200 ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
  await killServer('questdb');
  try {
    await waitFor('a failed flush', async () => ((await metricValue(sink, 'sink_flush_failures_total')) > 0 ? true : undefined), { timeoutMs: 60_000 });
    const health = await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`);
    assert.equal(health.status, 503, 'the sink reports itself unhealthy while it cannot write');
    const written = await metricValue(sink, 'sink_rows_written_total');
    assert.equal(await second.exited, 0, 'the second batch was produced');
    assert.equal(await metricValue(sink, 'sink_rows_written_total'), written, 'nothing counted as written while QuestDB is down');
  } finally {
    stack('up', 'questdb');
  }

  await waitFor('all 6,000 ticks after QuestDB is back', async () => {
    const [r] = await questdbQuery(`select count() n from "${table}"`);
    return r?.['n'] === 6000 ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  const [dupes] = await questdbQuery(`select count() n, count_distinct(concat(symbol, '@', ts, '@', seq)) k from "${table}"`);
  assert.deepEqual(dupes, { n: 6000, k: 6000 });
  assert.equal(sink.child.exitCode, null, 'the sink kept running');
  await waitFor('healthy again', async () => ((await fetch(`http://127.0.0.1:${await sink.metricsPort()}/health`)).status === 200 ? true : undefined));
});
