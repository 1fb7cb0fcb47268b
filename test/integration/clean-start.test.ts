import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sliceEnv, startLivePipeline, stopAll } from '../helpers/pipeline.js';
import { questdbQuery } from '../helpers/questdb.js';
import type { RunningService } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

const running: RunningService[] = [];
after(() => stopAll(...running));

// pino levels: 50 error, 60 fatal. An operator who sees error lines on every start learns to ignore
// them, and then misses the real one.
const ERROR_LINE = /"level":(50|60)\b/;

test('a normal start and stop of the whole pipeline logs no error line', async () => {
  const { common, ns } = sliceEnv('cleanstart');
  // All three start together, as `npm run pipeline` starts them: they create the same topics at once
  // and join their groups while the coordinator is still loading.
  const { processor, sink, simulator } = await startLivePipeline(common, ns, running, { symbols: 30, ticksPerSecond: 300, seconds: 3600, seed: 8 });
  await waitFor('final candles in QuestDB', async () => {
    const [r] = await questdbQuery(`select count() n from "${ns.tablePrefix}candles_1s" where is_final`).catch(() => [undefined]);
    return Number(r?.['n'] ?? 0) > 0 ? true : undefined;
  });
  for (const s of [simulator, processor, sink]) assert.equal(await s.stop(), 0, `${s.entry} stopped cleanly`);
  for (const s of [simulator, processor, sink]) {
    const errors = s.output().split('\n').filter((l) => ERROR_LINE.test(l));
    assert.deepEqual(errors, [], `${s.entry} logged no error line`);
  }
});
