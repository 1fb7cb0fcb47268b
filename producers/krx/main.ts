/**
 * KRX pollers: the listings of KOSPI, KOSDAQ and KONEX → `ref.stocks.v1` on a schedule (a stock
 * that disappears is published again as delisted, with the date), and all stocks' prices of a
 * trading day → `krx.daily-bars.v1` once KRX has published them after the close.
 */
import { defineConfig } from '../../lib/config.js';
import { AppError, toAppError } from '../../lib/errors.js';
import { createKafka, kafkaConfigSpec } from '../../lib/kafka.js';
import { SerialQueue } from '../../lib/serial.js';
import { AvroSerde, registryConfigSpec } from '../../lib/serde.js';
import { runService } from '../../lib/service.js';
import { epochDayToIso, isoToEpochDay, kstEpochDay, nowMicros } from '../../lib/time.js';
import { topicCatalogue } from '../../lib/topics.js';
import { createKrxClient } from './clients.js';
import { checkKrxClientConfig, krxClientConfigSpec, krxPollerConfigSpec } from './config.js';
import { ListingsState } from './listings.js';
import { krxMetrics } from './metrics.js';
import { KrxOutput } from './output.js';
import { readStocks } from './restore.js';

const config = defineConfig({ ...kafkaConfigSpec, ...registryConfigSpec, ...krxClientConfigSpec, ...krxPollerConfigSpec });

await runService({
  name: 'krx-poller',
  config,
  async main({ config: c, logger, metrics, lifecycle, setHealth, exit, fail }) {
    checkKrxClientConfig(c);
    const fixedDay = c.dailyDate ? isoToEpochDay(c.dailyDate) : undefined;
    if (fixedDay !== undefined && Number.isNaN(fixedDay)) throw new AppError('CONFIG_INVALID', `KRX_DAILY_DATE: ${JSON.stringify(c.dailyDate)} is not a YYYY-MM-DD date`);
    const [afterH, afterM] = c.dailyAfter.split(':').map(Number) as [number, number];

    const m = krxMetrics(metrics);
    const client = createKrxClient(c, { logger, onRequest: (endpoint, status) => m.requests.inc({ endpoint, status }) });
    const catalogue = topicCatalogue(c.topicNamespace, c.topicPartitions);
    const kafka = createKafka({ brokers: c.brokers, clientId: c.clientId ?? 'krx-poller', logger });
    const output = await KrxOutput.open(kafka, catalogue, c.registryUrl, metrics, logger);
    lifecycle.onShutdown('kafka-producer', () => output.close());

    const state = new ListingsState();
    for (const s of await readStocks(kafka, catalogue.stocks.name, new AvroSerde(c.registryUrl))) state.remember(s);
    logger.info({ known: state.size }, 'listings state read back from the topic');

    let consecutiveFailures = 0;
    setHealth(() => ({ healthy: !lifecycle.isStopping && consecutiveFailures < 3, details: { consecutiveFailures, known: state.size } }));

    /** Runs one poll; a bad body is dead-lettered and the poller goes on; credentials problems stop it. */
    const poll = async (kind: 'listings' | 'daily', run: () => Promise<void>): Promise<void> => {
      try {
        await run();
        consecutiveFailures = 0;
        m.polls.inc({ kind, outcome: 'ok' });
      } catch (err) {
        if (await output.deadLetter(err)) {
          m.badResponses.inc();
          m.polls.inc({ kind, outcome: 'bad-body' });
          return;
        }
        m.polls.inc({ kind, outcome: 'failed' });
        consecutiveFailures++;
        const e = toAppError(err);
        // A refused login needs a person (and retrying it could lock the account); so does a bug.
        if (e.code === 'SOURCE_AUTH_FAILED' || (!e.retryable && e.code !== 'BUDGET_EXHAUSTED')) throw e;
        logger.warn({ err: e, code: e.code, kind }, 'KRX poll failed; the next poll tries again');
      }
    };

    const pollListings = () => poll('listings', async () => {
      const polled = await client.listings();
      const update = state.update(polled, kstEpochDay(Date.now()), nowMicros(), c.delistGuard);
      if (update.distrusted) logger.warn({ reason: update.distrusted }, 'listings poll not trusted with delistings');
      await output.publishStocks(update.publish);
      const listed = polled.length;
      m.listings.set({ state: 'listed' }, listed);
      m.listings.set({ state: 'delisted' }, state.size - listed);
      logger.info({ listed, added: update.added, changed: update.changed, delisted: update.delisted }, 'listings polled');
    });

    let lastDay = -1;
    /** The day whose prices are due: a fixed date, or today (KST) once KRX_DAILY_AFTER has passed. */
    const dueDay = (): number | null => {
      if (fixedDay !== undefined) return fixedDay;
      const kstMinutes = Math.floor(((Date.now() + 9 * 3600_000) % 86_400_000) / 60_000);
      return kstMinutes >= afterH * 60 + afterM ? kstEpochDay(Date.now()) : null;
    };
    const pollDaily = () => poll('daily', async () => {
      const day = dueDay();
      if (day === null || day === lastDay) return;
      const dow = (day + 4) % 7;
      if (dow === 0 || dow === 6) {
        lastDay = day;
        return;
      }
      const parsed = await client.day(day);
      lastDay = day;
      if (parsed.holiday) {
        m.holidays.inc();
        logger.info({ date: epochDayToIso(day) }, 'no trading that day (every price is -): a holiday');
        return;
      }
      await output.publishBars(parsed.bars);
      logger.info({ date: epochDayToIso(day), bars: parsed.bars.length }, 'daily prices published');
    });

    const queue = new SerialQueue();
    const schedule = (what: () => Promise<void>) => queue.run(async () => {
      if (!lifecycle.isStopping) await what();
    }).catch((err) => fail(err));

    await schedule(pollListings);
    await schedule(pollDaily);
    if (c.runOnce) {
      logger.info('KRX poller ran once');
      exit('run once');
      return;
    }
    const timers = [
      setInterval(() => void schedule(pollListings), c.listingsPollMinutes * 60_000),
      setInterval(() => void schedule(pollDaily), c.dailyPollMinutes * 60_000),
    ];
    lifecycle.onShutdown('timers', () => timers.forEach(clearInterval));
    lifecycle.onShutdown('polls', () => queue.run(() => undefined));
    logger.info({ source: client.source }, 'KRX poller running');
  },
});
