/**
 * KRX backfill: N years of daily bars of every stock, one request per day (all stocks of a day),
 * oldest first, into `krx.daily-bars.v1`. Resumable from its checkpoint file after a crash, and
 * idempotent when run again (the sinks upsert on code and date). Ends by itself.
 */
import { defineConfig } from '../../lib/config.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { createKafka, kafkaConfigSpec } from '../../lib/kafka.js';
import { registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { epochDayToIso, isoToEpochDay, kstEpochDay } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { readCheckpoint, remainingDays, writeCheckpoint } from './checkpoint.js';
import { createKrxClient } from './clients.js';
import { checkKrxClientConfig, krxBackfillConfigSpec, krxClientConfigSpec } from './config.js';
import { krxMetrics } from './metrics.js';
import { KrxOutput } from './output.js';

const config = defineConfig({ ...kafkaConfigSpec, ...registryConfigSpec, ...krxClientConfigSpec, ...krxBackfillConfigSpec });

type Outcome = 'bars' | 'holiday' | 'bad';

await runService({
  name: 'krx-backfill',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, exit }) {
    checkKrxClientConfig(c);
    const problems: string[] = [];
    const to = c.to ? isoToEpochDay(c.to) : kstEpochDay(Date.now()) - 1;
    const from = c.from ? isoToEpochDay(c.from) : to - Math.round(c.years * 365.25) + 1;
    if (Number.isNaN(to)) problems.push(`BACKFILL_TO: ${JSON.stringify(c.to)} is not a YYYY-MM-DD date`);
    if (Number.isNaN(from)) problems.push(`BACKFILL_FROM: ${JSON.stringify(c.from)} is not a YYYY-MM-DD date`);
    if (from > to) problems.push(`BACKFILL_FROM (${epochDayToIso(from)}) is after BACKFILL_TO (${epochDayToIso(to)})`);
    if (problems.length > 0) throw new AppError('CONFIG_INVALID', problems.join('\n'));

    const m = krxMetrics(metrics);
    const client = createKrxClient(c, { logger, onRequest: (endpoint, status) => m.requests.inc({ endpoint, status }) });
    const plan = { source: client.source, from, to };
    const { days, checkpoint } = remainingDays(plan, readCheckpoint(c.checkpointFile));
    const total = days.length;
    m.days.set({ state: 'total' }, total);
    m.days.set({ state: 'done' }, 0);
    logger.info({ from: epochDayToIso(from), to: epochDayToIso(to), days: total, resumedAfter: checkpoint.doneThrough >= from ? epochDayToIso(checkpoint.doneThrough) : null, checkpoint: c.checkpointFile }, 'backfill planned');
    if (total === 0) {
      logger.info('backfill already complete: nothing to fetch');
      exit('backfill complete');
      return;
    }

    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'krx-backfill', logger });
    const output = await KrxOutput.open(kafka, topicCatalogue(c.topicNamespace, c.topicPartitions), c.registryUrl, metrics, logger);
    lifecycle.onShutdown('kafka-producer', () => output.close());

    const fetchDay = async (day: number): Promise<Outcome> => {
      try {
        const parsed = await client.day(day);
        if (parsed.holiday) {
          m.holidays.inc();
          return 'holiday';
        }
        await output.publishBars(parsed.bars);
        checkpoint.bars += parsed.bars.length;
        return 'bars';
      } catch (err) {
        if (!(await output.deadLetter(err))) throw err;
        m.badResponses.inc();
        return 'bad';
      }
    };

    // Days run `concurrency` at a time; the checkpoint advances over the finished prefix only.
    const outcome = new Map<number, Outcome>();
    let next = 0;
    let prefix = 0;
    let done = 0;
    const started = Date.now();
    const save = () => writeCheckpoint(c.checkpointFile, checkpoint);
    const record = (day: number, o: Outcome) => {
      outcome.set(day, o);
      done++;
      if (o === 'holiday') checkpoint.holidays.push(day);
      if (o === 'bad' && !checkpoint.failed.includes(day)) checkpoint.failed.push(day);
      if (o !== 'bad') checkpoint.failed = checkpoint.failed.filter((d) => d !== day);
      while (prefix < days.length && outcome.has(days[prefix] as number)) {
        checkpoint.doneThrough = Math.max(checkpoint.doneThrough, days[prefix] as number);
        prefix++;
      }
      m.days.set({ state: 'done' }, done);
    };
    const progress = () => {
      const elapsed = (Date.now() - started) / 1000;
      const rate = done / Math.max(elapsed, 0.001);
      const eta = rate > 0 ? (total - done) / rate : null;
      const width = 30;
      const filled = Math.round((done / total) * width);
      m.eta.set(eta ?? -1);
      logger.info({ done, total, percent: Math.round((done / total) * 1000) / 10, bar: `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, daysPerSecond: Math.round(rate * 100) / 100, etaSeconds: eta === null ? null : Math.round(eta), bars: checkpoint.bars, holidays: checkpoint.holidays.length, failed: checkpoint.failed.length, through: epochDayToIso(checkpoint.doneThrough) }, 'backfill progress');
    };
    const ticker = setInterval(progress, c.progressIntervalMs);
    lifecycle.onShutdown('progress', () => clearInterval(ticker));
    setHealth(() => ({ healthy: !lifecycle.isStopping, details: { done, total } }));

    let fatal: unknown = null;
    const worker = async () => {
      while (!lifecycle.isStopping && fatal === null && next < days.length) {
        const day = days[next++] as number;
        try {
          record(day, await fetchDay(day));
          save();
        } catch (err) {
          fatal ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: c.concurrency }, worker));
    for (let round = 0; round < c.badDayRetries && fatal === null && !lifecycle.isStopping && checkpoint.failed.length > 0; round++) {
      const again = [...checkpoint.failed];
      logger.warn({ days: again.map(epochDayToIso), round: round + 1 }, 'fetching days with bad bodies again');
      for (const day of again) {
        try {
          const o = await fetchDay(day);
          if (o !== 'bad') {
            checkpoint.failed = checkpoint.failed.filter((d) => d !== day);
            if (o === 'holiday') checkpoint.holidays.push(day);
          }
          save();
        } catch (err) {
          fatal ??= err;
        }
      }
    }
    save();
    progress();
    if (fatal !== null) {
      const e = fatal as Error;
      const advice = isAppError(fatal, 'BUDGET_EXHAUSTED') ? 'run it again after midnight KST: it resumes from the checkpoint'
        : isAppError(fatal, 'SOURCE_AUTH_FAILED') ? 'fix the credentials, then run it again: it resumes from the checkpoint'
        : 'run it again: it resumes from the checkpoint';
      logger.error({ err: e, code: (fatal as AppError).code, through: epochDayToIso(checkpoint.doneThrough) }, `backfill stopped: ${e.message}; ${advice}`);
      throw fatal;
    }
    if (lifecycle.isStopping) return;
    if (checkpoint.failed.length > 0) logger.error({ days: checkpoint.failed.map(epochDayToIso) }, 'backfill finished with days whose bodies stayed bad (dead-lettered); a re-run fetches them again');
    const cpu = process.cpuUsage();
    logger.info({ days: total, bars: checkpoint.bars, holidays: checkpoint.holidays.length, seconds: Math.round((Date.now() - started) / 100) / 10, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e5) / 10 }, 'backfill complete');
    exit('backfill complete');
  },
});
