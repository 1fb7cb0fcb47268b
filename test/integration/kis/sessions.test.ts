import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FakeKisServer } from '../../fakes/kis/server.js';
import { startService, type RunningService } from '../../helpers/service-process.js';
import { freshNamespace } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { ACCOUNTS, health, leakedSecrets, producerEnv, readAllTicks } from './helpers.js';
import { metricAt } from '../../helpers/metrics.js';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('100 symbols over 3 app keys: every registration acknowledged, none over the limit; symbols added and removed through the file; overflow reported', async () => {
  const ns = freshNamespace('kissessions');
  const fake = await FakeKisServer.start({ accounts: ACCOUNTS, universe: 200, ticksPerSecond: 300, pingIntervalMs: 200, pongTimeoutMs: 2_000 });
  cleanup.push(() => fake.close());
  const dir = mkdtempSync(join(tmpdir(), 'kis-symbols-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'symbols.txt');
  const universe = fake.listings.map((l) => l.symbol);
  writeFileSync(file, `# 100 symbols\n${universe.slice(0, 100).join('\n')}\n`);

  const producer: RunningService = startService('producers/kis/main.js', producerEnv(fake, ns.topicNamespace, ACCOUNTS, {
    KIS_SYMBOLS_FILE: file,
    KIS_SYMBOLS_POLL_MS: '100',
    KIS_TRS: 'H0STCNT0',
  }));
  cleanup.push(async () => void (await producer.stop()));
  await producer.waitForLog(/kis producer running/);
  const port = await producer.metricsPort();

  const total = () => ACCOUNTS.reduce((n, a) => n + fake.registrations(a.appKey).length, 0);
  const union = () => ACCOUNTS.flatMap((a) => fake.registrations(a.appKey)).sort();
  const expect = (symbols: string[]) => symbols.map((s) => `H0STCNT0|${s}`).sort();

  await waitFor('100 registrations', () => (total() === 100 ? true : undefined), { timeoutMs: 30_000 });
  assert.deepEqual(union(), expect(universe.slice(0, 100)));
  for (const a of ACCOUNTS) assert.ok(fake.registrations(a.appKey).length <= 41, `${fake.registrations(a.appKey).length} in one session`);
  assert.equal(fake.answers.filter((a) => a.msgCd === 'OPSP0000').length, 100, 'every registration acknowledged');
  assert.equal(fake.answers.filter((a) => a.msgCd !== 'OPSP0000').length, 0, 'no refusal, MAX SUBSCRIBE OVER included');
  assert.ok(fake.connections().every((c) => c.maxRegistrationsHeld <= 41));
  const h1 = await waitFor('health to show every session', async () => {
    const h = await health(port);
    return h.sessions.reduce((n, s) => n + s.registrations, 0) === 100 ? h : undefined;
  });
  assert.equal(h1.status, 'UP');
  assert.deepEqual(h1.sessions.map((s) => s.registrations), [34, 33, 33]);
  assert.equal(h1.unplaced.count, 0);

  // Ticks reach Kafka from the KIS source.
  const ticksTopic = `${ns.topicNamespace}market.ticks.v1`;
  await waitFor('ticks produced', async () => ((await metricAt(port, 'kis_messages_produced_total', { topic: ticksTopic })) >= 20 ? true : undefined));
  const ticks = await readAllTicks(ticksTopic, 20);
  assert.ok(ticks.every((t) => t.source === 'KIS' && universe.slice(0, 100).includes(t.symbol)));

  // Remove 10 symbols, add 30: the sessions follow the file without a restart.
  const second = [...universe.slice(10, 100), ...universe.slice(100, 130)];
  writeFileSync(file, second.join(','));
  await waitFor('the new symbol list registered', () => (union().join() === expect(second).join() ? true : undefined), { timeoutMs: 30_000 });
  assert.equal(fake.answers.filter((a) => a.msgCd === 'OPSP0001').length, 10, 'the 10 removed symbols unsubscribed');
  assert.equal(producer.child.exitCode, null);

  // 130 do not fit in 3 × 41 = 123: 7 are reported, the rest registered.
  writeFileSync(file, universe.slice(0, 130).join('\n'));
  const h2 = await waitFor('the overflow reported', async () => {
    const h = await health(port);
    return h.unplaced.count === 7 && total() === 123 ? h : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(h2.unplaced.registrations.length, 7);
  assert.equal(await metricAt(port, 'kis_registrations_unplaced'), 7);
  await producer.waitForLog(/7 registration\(s\) fit in no session/);
  assert.ok(fake.connections().every((c) => c.maxRegistrationsHeld <= 41));
  assert.equal(fake.answers.filter((a) => a.msgCd === 'OPSP0008').length, 0);

  assert.equal(await producer.stop(), 0);
  assert.deepEqual(leakedSecrets(producer, fake, ACCOUNTS), [], 'no credential in the process output');
});
