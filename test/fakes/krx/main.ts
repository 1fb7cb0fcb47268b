/**
 * The fake KRX server on its own: `node dist/test/fakes/krx/main.js`, for demos of the KRX pollers
 * without a KRX account and for benches that want it in a process of its own. Steer it over HTTP:
 * GET {url}/__fake/<command> (state, expire-sessions, always-logout, bad-bodies, fail-next, pacing,
 * today, delist). Prints one JSON line with its URL once it listens.
 */
import { defineConfig, loadConfig } from '../../../lib/config.js';
import { FakeKrxServer } from './server.js';

const spec = defineConfig({
  host: { env: 'FAKE_KRX_HOST', type: 'string', default: '127.0.0.1', doc: 'address to listen on' },
  port: { env: 'FAKE_KRX_PORT', type: 'int', default: 19480, min: 0, max: 65535, doc: 'port of data.krx.co.kr and the Open API; 0 = any' },
  universe: { env: 'FAKE_KRX_UNIVERSE', type: 'int', default: 2_880, min: 1, max: 10_000, doc: "listings (the simulator's generateListings)" },
  seed: { env: 'FAKE_KRX_SEED', type: 'int', default: 42, doc: 'seed of the listings and the history' },
  paceMs: { env: 'FAKE_KRX_PACE_MS', type: 'int', default: 1_000, min: 0, doc: 'answer at most one data request per this many ms, like the polite real thing; 0 = as fast as possible' },
  today: { env: 'FAKE_KRX_TODAY', type: 'optional-string', doc: "the fake's today (YYYY-MM-DD) for the listings; default the KST date" },
});

let config;
try {
  config = loadConfig(spec);
} catch (err) {
  process.stderr.write(`fake-krx: ${(err as Error).message}\n`);
  process.exit(78);
}
const server = await FakeKrxServer.start({ host: config.host, port: config.port, universe: config.universe, seed: config.seed, paceMs: config.paceMs, ...(config.today ? { today: config.today } : {}) });
console.log(JSON.stringify({ fakeKrx: 'listening', url: server.url, controlUrl: `${server.url}/__fake`, members: 'fake-member / fake-password', authKey: 'fake-auth-key', listings: server.market.stocks.length }));
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
