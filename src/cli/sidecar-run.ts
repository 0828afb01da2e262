// The flow of `dvdi sidecar`, first half: settings and volume requests → HTTP listening at once
// (/readyz 503 with the reason, /livez 200) → then sidecar-session.ts, loaded only now so that
// the endpoints answer before the heavier modules (Docker, mounter, store, reconciler) load.
import { Registry } from 'prom-client';
import { AbortedError, DvdiError, ExitCode, describeError, exitCodeOf, type ExitCode as ExitCodeT } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { ConfigError, loadSidecarConfig, loadVolumeRequests, type Config, type Env, type VolumeSpec } from '../config/index.js';
import { startHttpServer, type RunningHttpServer } from '../http/http-server.js';
import { createSidecarMetrics } from '../metrics/sidecar-metrics.js';
import { SidecarView, type Inputs, type SidecarProcess } from './sidecar-view.js';

export type { SidecarProcess } from './sidecar-view.js';

/** Settings and volume requests, checked together so one run names every problem. */
function loadInputs(env: Env, hostname: string): { config: Config; specs: readonly VolumeSpec[] } {
  const problems: ConfigError[] = [];
  let config: Config | undefined;
  let specs: readonly VolumeSpec[] | undefined;
  try {
    config = loadSidecarConfig(env, hostname);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(error);
  }
  try {
    specs = loadVolumeRequests(env).specs;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(error);
  }
  if (problems.length > 0 || config === undefined || specs === undefined) throw ConfigError.combine(problems);
  return { config, specs };
}

/** Why a listen on DVDI_HTTP_ADDR failed, for the errors a setting (or a neighbour) causes. */
const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another process in this network namespace listens there)',
  EADDRNOTAVAIL: 'the host is not an address of this network namespace',
  EACCES: 'a port below 1024 needs CAP_NET_BIND_SERVICE',
};

/**
 * A listen failure that the setting explains becomes a configuration error naming
 * DVDI_HTTP_ADDR and the accepted form (exit 2, nothing mounted yet); any other error stays.
 */
function listenError(error: unknown, config: Config): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const why = code === undefined ? undefined : LISTEN_FAILURES[code];
  if (why === undefined) return error;
  const { host, port } = config.httpAddr;
  const shown = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new ConfigError([{ variable: 'DVDI_HTTP_ADDR', message: `DVDI_HTTP_ADDR=${JSON.stringify(shown)} cannot be listened on: ${why} (${code}); expected a free host:port of this host, e.g. 127.0.0.1:9651, or port 0 for any free one` }]);
}

/** Runs the sidecar until shutdown; resolves with the process exit code (docs/contract). */
export async function runSidecar(proc: SidecarProcess): Promise<ExitCodeT> {
  let inputs: Inputs;
  try {
    inputs = loadInputs(proc.env, proc.hostname);
  } catch (error) {
    proc.stderr(`dvdi sidecar: ${describeError(error)}\n`);
    return exitCodeOf(error) === ExitCode.Internal ? ExitCode.Config : exitCodeOf(error);
  }
  const { config } = inputs;
  const logger = createLogger(config.logLevel, { node: config.nodeId, task: config.taskId });
  for (const warning of config.warnings) logger.warn(warning);
  const registry = new Registry();
  const metrics = createSidecarMetrics(registry, { eventLoopResolutionMs: config.eventLoopResolutionMs });
  metrics.ready.set(0);
  const view = new SidecarView(config, metrics);
  // Signals are ours from here on: a SIGTERM while starting is a clean stop, not a kill.
  const shutdown = new AbortController();
  proc.onShutdownSignal((signal) => {
    if (shutdown.signal.aborted) return;
    logger.info({ signal }, 'shutdown requested');
    shutdown.abort(new AbortedError(signal));
  });
  let http: RunningHttpServer | undefined;
  try {
    // Listening comes first: a probe must see "starting", never "connection refused".
    http = await startHttpServer(
      { readiness: () => view.readiness(), status: () => view.status(), registry },
      { host: config.httpAddr.host, port: config.httpAddr.port, endpoints: config.httpEndpoints, logger: logger.child({ module: 'http' }) },
    ).catch((error: unknown) => {
      throw listenError(error, config);
    });
    logger.info({ url: http.url }, 'http endpoints listening');
    const { runStarted } = await import('./sidecar-session.js');
    return await runStarted(proc, inputs, { logger, metrics, view, shutdown });
  } catch (error) {
    return failed(proc, logger, error);
  } finally {
    await http?.close().catch(() => undefined);
  }
}

function failed(proc: SidecarProcess, logger: Logger, error: unknown): ExitCodeT {
  const code = exitCodeOf(error);
  logger.error({ code: error instanceof DvdiError ? error.code : undefined, err: describeError(error), exitCode: code }, 'sidecar failed');
  proc.stderr(`dvdi sidecar: ${describeError(error)}\n`);
  return code;
}

