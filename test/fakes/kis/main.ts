/**
 * The fake KIS server on its own: `node dist/test/fakes/kis/main.js`. For the demo (fake KIS → producer
 * → pipeline) and for the benchmark, which needs it in a process of its own so that generating the
 * market does not take the producer's core. Steer it over HTTP: GET/POST {restUrl}/__fake/<command>
 * (state, drop, ignore-pongs, expire-approvals, fail-next, field-count, encrypt, layout2026, malformed, market, burst).
 * Prints one JSON line with its URLs once it listens.
 */
import { defineConfig, loadConfig } from '../../../lib/config.js';
import { FakeKisServer } from './server.js';

const spec = defineConfig({
  host: { env: 'FAKE_KIS_HOST', type: 'string', default: '127.0.0.1', doc: 'address to listen on' },
  restPort: { env: 'FAKE_KIS_REST_PORT', type: 'int', default: 19443, min: 0, max: 65535, doc: 'REST port (approval keys and the /__fake control API); 0 = any' },
  wsPort: { env: 'FAKE_KIS_WS_PORT', type: 'int', default: 21000, min: 0, max: 65535, doc: 'WebSocket port; 0 = any' },
  accounts: { env: 'FAKE_KIS_ACCOUNTS', type: 'list', secret: true, itemPattern: /^[^:\s]+:\S+$/, minItems: 1, doc: 'accepted credentials, appkey:secret comma separated', default: ['fake-app-key-1:fake-app-secret-1', 'fake-app-key-2:fake-app-secret-2', 'fake-app-key-3:fake-app-secret-3'] },
  universe: { env: 'FAKE_KIS_UNIVERSE', type: 'int', default: 200, min: 1, max: 10_000, doc: 'listings of the simulated market (generateListings)' },
  seed: { env: 'FAKE_KIS_SEED', type: 'int', default: 42, doc: 'simulator seed' },
  ticksPerSecond: { env: 'FAKE_KIS_TICKS_PER_SECOND', type: 'number', default: 200, min: 0, doc: 'whole-market trades per second' },
  session: { env: 'FAKE_KIS_SESSION', type: 'enum', values: ['always', 'krx'] as const, default: 'always', doc: "'always' open, or real KRX hours" },
  maxRegistrations: { env: 'FAKE_KIS_MAX_REGISTRATIONS', type: 'int', default: 41, min: 1, doc: 'registrations per session' },
  pingMs: { env: 'FAKE_KIS_PING_MS', type: 'int', default: 5_000, min: 10, doc: 'PINGPONG interval' },
  pongTimeoutMs: { env: 'FAKE_KIS_PONG_TIMEOUT_MS', type: 'int', default: 0, min: 0, doc: 'unanswered PINGPONG closes the session after this long (0 = one interval)' },
  recordsPerFrame: { env: 'FAKE_KIS_RECORDS_PER_FRAME', type: 'int', default: 1, min: 1, max: 999, doc: 'records per data frame at most' },
  marketRunning: { env: 'FAKE_KIS_MARKET_RUNNING', type: 'bool', default: true, doc: 'start with the market moving' },
  recordSent: { env: 'FAKE_KIS_RECORD_SENT', type: 'bool', default: false, doc: 'keep every record sent in memory (tests only)' },
  slotHoldMs: { env: 'FAKE_KIS_SLOT_HOLD_MS', type: 'int', default: 20_000, min: 0, doc: "a dropped session's slot stays taken this long (OPSP0011 to its old approval key, OPSP8996 to new ones), as KIS does" },
  lockoutConnects: { env: 'FAKE_KIS_LOCKOUT_CONNECTS', type: 'int', default: 0, min: 0, doc: 'more sessions than this claimed by one app key within FAKE_KIS_LOCKOUT_WINDOW_MS lock it out (0 = never)' },
  lockoutWindowMs: { env: 'FAKE_KIS_LOCKOUT_WINDOW_MS', type: 'int', default: 600_000, min: 1, doc: 'window of FAKE_KIS_LOCKOUT_CONNECTS' },
  layout2026: { env: 'FAKE_KIS_LAYOUT_2026', type: 'bool', default: true, doc: 'records in the layouts since 2026-09-14 (47/63/66 fields); false: the older 46/59/65' },
});

let config;
try {
  config = loadConfig(spec);
} catch (err) {
  process.stderr.write(`fake-kis: ${(err as Error).message}\n`);
  process.exit(78);
}

const server = await FakeKisServer.start({
  host: config.host,
  restPort: config.restPort,
  wsPort: config.wsPort,
  accounts: config.accounts.map((a) => {
    const i = a.indexOf(':');
    return { appKey: a.slice(0, i), appSecret: a.slice(i + 1) };
  }),
  universe: config.universe,
  seed: config.seed,
  ticksPerSecond: config.ticksPerSecond,
  session: config.session,
  maxRegistrations: config.maxRegistrations,
  pingIntervalMs: config.pingMs,
  ...(config.pongTimeoutMs > 0 ? { pongTimeoutMs: config.pongTimeoutMs } : {}),
  maxRecordsPerFrame: config.recordsPerFrame,
  marketRunning: config.marketRunning,
  recordSent: config.recordSent,
  slotHoldMs: config.slotHoldMs,
  lockoutConnects: config.lockoutConnects,
  lockoutWindowMs: config.lockoutWindowMs,
  layout2026: config.layout2026,
});
console.log(JSON.stringify({ fakeKis: 'listening', restUrl: server.restUrl, wsUrl: server.wsUrl, controlUrl: `${server.restUrl}/__fake`, symbols: server.listings.length }));

const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
