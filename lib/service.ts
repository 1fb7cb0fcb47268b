import type { Registry } from 'prom-client';
import { defineConfig, describeConfig, loadConfig, type ConfigOf, type ConfigSpec } from './config.js';
import { isAppError, toAppError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createMetricsRegistry, startMetricsServer, type HealthCheck } from './metrics.js';

export const serviceConfigSpec = defineConfig({
  metricsPort: { env: 'METRICS_PORT', type: 'int', default: 0, min: 0, max: 65535, doc: 'port of /metrics and /health (0 = any free port)' },
  metricsHost: { env: 'METRICS_HOST', type: 'string', default: '127.0.0.1', doc: 'address /metrics binds to (0.0.0.0 in containers)' },
  shutdownTimeoutMs: { env: 'SHUTDOWN_TIMEOUT_MS', type: 'int', default: 30_000, min: 1000, doc: 'how long a graceful shutdown may take before the process exits anyway' },
});

type ShutdownHook = { name: string; run: () => Promise<void> | void };

/**
 * Runs shutdown hooks last-registered-first, once. A service registers a hook right after it
 * opens a resource, so resources close in the reverse order they were opened.
 */
export class Lifecycle {
  private readonly hooks: ShutdownHook[] = [];
  private stopping: Promise<void> | null = null;
  private readonly stopListeners: Array<() => void> = [];

  constructor(private readonly logger: Logger) {}

  onShutdown(name: string, run: () => Promise<void> | void): void {
    this.hooks.push({ name, run });
  }

  /** Resolves when shutdown begins: long-running loops await this to stop. */
  readonly stopped: Promise<void> = new Promise<void>((resolve) => this.stopListeners.push(resolve));

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.logger.info({ reason }, 'shutting down');
    for (const l of this.stopListeners) l();
    this.stopping = (async () => {
      for (const hook of [...this.hooks].reverse()) {
        try {
          await hook.run();
        } catch (err) {
          this.logger.error({ err, hook: hook.name }, 'shutdown step failed');
        }
      }
    })();
    return this.stopping;
  }
}

export interface ServiceContext<C> {
  config: C;
  logger: Logger;
  metrics: Registry;
  lifecycle: Lifecycle;
  /** Replaces the default health check (up while not stopping). */
  setHealth(check: HealthCheck): void;
  /** Ends the process after a graceful shutdown (for services with a natural end, like a bounded run). */
  exit(reason: string): void;
  /** Logs a fatal error and ends the process with status 1 after a graceful shutdown. */
  fail(err: unknown): void;
}

export interface ServiceDefinition<S extends Record<string, ConfigSpec>> {
  name: string;
  config: S;
  main(ctx: ServiceContext<ConfigOf<S> & ConfigOf<typeof serviceConfigSpec>>): Promise<void>;
}

/**
 * The entry point of every service: config (fail at start-up with every problem), logger,
 * metrics server, SIGTERM/SIGINT handling with a bounded graceful shutdown.
 * Exit codes: 0 clean stop, 1 failure, 78 configuration error (EX_CONFIG).
 */
export async function runService<S extends Record<string, ConfigSpec>>(def: ServiceDefinition<S>): Promise<void> {
  const spec = { ...serviceConfigSpec, ...def.config };
  let config: ConfigOf<typeof spec>;
  try {
    config = loadConfig(spec);
  } catch (err) {
    process.stderr.write(`${def.name}: ${(err as Error).message}\n`);
    process.exit(78);
  }
  const logger = createLogger(def.name);
  const metrics = createMetricsRegistry(def.name);
  const lifecycle = new Lifecycle(logger);
  let health: HealthCheck = () => ({ healthy: !lifecycle.isStopping });

  let exitCode = 0;
  const stopAndExit = (reason: string, code: number) => {
    exitCode = Math.max(exitCode, code);
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    void lifecycle.shutdown(reason).then(() => {
      logger.info({ exitCode }, 'stopped');
      logger.flush?.();
      process.exit(exitCode);
    });
  };
  process.once('SIGTERM', () => stopAndExit('SIGTERM', 0));
  process.once('SIGINT', () => stopAndExit('SIGINT', 0));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    stopAndExit('uncaughtException', 1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    stopAndExit('unhandledRejection', 1);
  });

  logger.info({ config: describeConfig(spec, config) }, 'starting');
  const server = await startMetricsServer(metrics, config.metricsPort, () => health(), config.metricsHost);
  lifecycle.onShutdown('metrics-server', () => server.close());
  logger.info({ metrics: `http://${config.metricsHost}:${server.port}/metrics` }, 'metrics and health served');

  try {
    await def.main({
      config,
      logger,
      metrics,
      lifecycle,
      setHealth: (check) => {
        health = check;
      },
      exit: (reason) => stopAndExit(reason, 0),
      fail: (err) => {
        logger.fatal({ err }, 'service failed');
        stopAndExit('fatal error', 1);
      },
    });
  } catch (err) {
    const appErr = toAppError(err);
    logger.fatal({ err: appErr, code: appErr.code }, 'service failed');
    stopAndExit('fatal error', isAppError(err, 'CONFIG_INVALID') ? 78 : 1);
  }
}
