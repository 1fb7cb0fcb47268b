import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeferredWork, type DeferredWorkOptions } from '../../../../sinks/postgres/deferred.js';
import { waitFor } from '../../../helpers/wait.js';

/** A DeferredWork whose runs wait on gates the test opens, with a log of what happened. */
function harness(overrides: Partial<DeferredWorkOptions> = {}) {
  const log: string[] = [];
  const gates: Array<() => void> = [];
  let fail = 0;
  const work = new DeferredWork({
    delayMs: 0,
    maxBackoffMs: 5,
    run: async () => {
      const n = log.filter((l) => l.startsWith('start')).length + 1;
      log.push(`start ${n}`);
      await new Promise<void>((resolve) => gates.push(resolve));
      if (fail > 0) {
        fail--;
        throw new Error(`run ${n} failed`);
      }
      return n;
    },
    onDone: (units) => log.push(`done ${units}`),
    onError: (err, failures) => log.push(`error ${failures}: ${(err as Error).message}`),
    ...overrides,
  });
  const started = (n: number) => waitFor(`run ${n} started`, () => (log.includes(`start ${n}`) ? true : undefined), { timeoutMs: 5_000, intervalMs: 1 });
  const done = (n: number) => waitFor(`run ${n} done`, () => (log.includes(`done ${n}`) ? true : undefined), { timeoutMs: 5_000, intervalMs: 1 });
  const open = () => (gates.shift() as () => void)();
  return { work, log, started, done, open, failNext: (n: number) => (fail = n) };
}

test('asks made before a run starts share that run', async () => {
  const h = harness();
  h.work.request();
  h.work.request();
  h.work.request();
  await h.started(1);
  h.open();
  await h.done(1);
  await h.work.close();
  assert.deepEqual(h.log, ['start 1', 'done 1']);
});

test('asks made while a run is in progress get exactly one more run after it', async () => {
  const h = harness();
  h.work.request();
  await h.started(1);
  h.work.request();
  h.work.request();
  h.open();
  await h.started(2);
  h.open();
  await h.done(2);
  await h.work.close();
  assert.deepEqual(h.log, ['start 1', 'done 1', 'start 2', 'done 2']);
});

test('a failed run is tried again after a back-off until it succeeds; the failure count starts again after a success', async () => {
  const h = harness();
  h.failNext(2);
  h.work.request();
  await h.started(1);
  h.open();
  await h.started(2);
  h.open();
  await h.started(3);
  h.open();
  await h.done(3);
  h.failNext(1);
  h.work.request();
  await h.started(4);
  h.open();
  await h.started(5);
  h.open();
  await h.done(5);
  await h.work.close();
  assert.deepEqual(h.log, ['start 1', 'error 1: run 1 failed', 'start 2', 'error 2: run 2 failed', 'start 3', 'done 3', 'start 4', 'error 1: run 4 failed', 'start 5', 'done 5']);
});

test('close waits for the run in progress, and nothing runs after it: no retry, no new ask', async () => {
  const h = harness({ maxBackoffMs: 60_000 });
  h.failNext(1);
  h.work.request();
  await h.started(1);
  let closed = false;
  const closing = h.work.close().then(() => (closed = true));
  h.work.request();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'close waits for the run');
  h.open();
  await closing;
  assert.equal(h.work.busy, false, 'the failed run scheduled no retry');
  h.work.request();
  assert.equal(h.work.busy, false, 'an ask after close schedules nothing');
  assert.deepEqual(h.log, ['start 1', 'error 1: run 1 failed']);
});
