// The sidecar's HTTP face: /readyz, /livez, /metrics, /status. It holds no domain logic: it asks
// the providers it is given and renders their answers. GET (and HEAD) only; other methods 405,
// unknown paths 404. It also bounds what a client can cost: a connection cap, short header,
// request, keep-alive and idle timeouts, so no load on the port can take the file descriptors
// or the time the leases need (the embedded store opens its lock file on every renew).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';

export interface ReadinessReport {
  ready: boolean;
  volumes: Array<{ name: string; driver: string; state: string; hostPath: string }>;
}

export interface HttpProviders {
  readiness(): ReadinessReport;
  status(): Promise<unknown>;
  registry: Registry;
}

/** `all`: every endpoint; `probes`: only /readyz, /livez and /metrics (DVDI_HTTP_ENDPOINTS). */
export type HttpEndpoints = 'all' | 'probes';

/**
 * Limits on clients. Probes and scrapes need a handful of short connections; the cap is far
 * above that and far below the process's descriptor limit. Beyond it, Node accepts and closes
 * at once, so an excess connection costs one descriptor for a moment, never for long.
 */
export const HTTP_LIMITS = {
  maxConnections: 256,
  /** Whole header block must arrive within this; a silent or trickling client is cut off. */
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  /** A socket with no traffic at all for this long is destroyed. */
  idleSocketTimeoutMs: 10_000,
  /** How often Node checks the header/request timeouts (its default is 30 s). */
  checkIntervalMs: 1000,
  maxRequestsPerSocket: 1000,
} as const;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Default `all`. */
  endpoints?: HttpEndpoints;
  /** Override of HTTP_LIMITS (tests). */
  limits?: Partial<Record<keyof typeof HTTP_LIMITS, number>>;
  /** /livez fails when the event loop's p99 delay exceeds this (a wedged process). */
  maxEventLoopDelayMs?: number;
}

export interface RunningHttpServer {
  /** The bound address (the real port when 0 was asked). */
  address: { host: string; port: number };
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType: string, head: boolean): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, `${JSON.stringify(value, null, 2)}\n`, 'application/json; charset=utf-8', head);
}

/** How often /livez's lag timer is due (its verdict: the worst lag against maxEventLoopDelayMs, 5 s). */
export const LIVENESS_SAMPLE_MS = 1_000;

/**
 * The event loop's worst lag since the last read: how late a timer due every `intervalMs` ran,
 * and how late the next one is at the moment of reading (a probe answered right after a stall,
 * before the timer's turn, still sees it). perf_hooks.monitorEventLoopDelay was used before: it
 * reports about its own resolution and missed a 3 s stall entirely (node 20.20 and 22.23), and
 * at 20 ms it woke an idle sidecar 50 times a second; this wakes it once.
 */
function watchLoopLag(intervalMs: number): { takeWorstMs(): number; stop(): void } {
  let due = performance.now() + intervalMs;
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - due);
    due = now + intervalMs;
  }, intervalMs);
  timer.unref();
  return {
    takeWorstMs() {
      const current = Math.max(worst, performance.now() - due);
      worst = 0;
      return Math.max(0, current);
    },
    stop: () => clearInterval(timer),
  };
}

export async function startHttpServer(providers: HttpProviders, options: HttpServerOptions): Promise<RunningHttpServer> {
  const loopLag = watchLoopLag(LIVENESS_SAMPLE_MS);
  const maxDelayMs = options.maxEventLoopDelayMs ?? 5000;

  const routes: Record<string, (res: ServerResponse, head: boolean) => void | Promise<void>> = {
    '/readyz': (res, head) => {
      const report = providers.readiness();
      sendJson(res, report.ready ? 200 : 503, report, head);
    },
    '/livez': (res, head) => {
      const worstMs = loopLag.takeWorstMs();
      const healthy = worstMs < maxDelayMs;
      // The field keeps its name (docs/contract.md); it is the worst lag since the last probe.
      sendJson(res, healthy ? 200 : 503, { live: healthy, eventLoopDelayP99Ms: Math.round(worstMs) }, head);
    },
    '/metrics': async (res, head) => {
      const body = await providers.registry.metrics();
      send(res, 200, body, providers.registry.contentType, head);
    },
    '/status': async (res, head) => {
      sendJson(res, 200, await providers.status(), head);
    },
  };
  // Probes-only: /status reveals node, task, volume names, host paths and holders; some
  // operators expose the port beyond the node and want only what probes and Prometheus need.
  if ((options.endpoints ?? 'all') === 'probes') delete routes['/status'];
  const limits = { ...HTTP_LIMITS, ...options.limits };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://sidecar').pathname;
    const route = routes[path];
    if (route === undefined) return sendJson(res, 404, { error: `no such endpoint: ${path}`, endpoints: Object.keys(routes) }, false);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: `method ${req.method ?? '?'} not allowed on ${path}` }, false);
    }
    await route(res, req.method === 'HEAD');
  };

  const server: Server = createServer({ connectionsCheckingInterval: limits.checkIntervalMs, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.logger.error({ err: error, url: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' }, false);
      else res.destroy();
    });
  });
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // Per socket, from accept on: a client that connects and never sends a byte is not covered by
  // the header timeout (it starts with the first byte), so it would hold a descriptor for ever.
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(limits.idleSocketTimeoutMs, () => socket.destroy());
  });
  let refusedSince = 0;
  server.on('drop', () => {
    // One line per burst, not per connection: a flood must not become a flood of logs.
    if (refusedSince++ === 0) options.logger.warn({ maxConnections: limits.maxConnections }, 'http connection cap reached; refusing connections');
  });
  const quiet = setInterval(() => {
    if (refusedSince > 0) options.logger.info({ refused: refusedSince }, 'http connections refused at the cap');
    refusedSince = 0;
  }, 60_000);
  quiet.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const hostForUrl = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: { host: bound.address, port: bound.port },
    url: `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl === '[::]' ? '[::1]' : hostForUrl}:${bound.port}`,
    async close() {
      clearInterval(quiet);
      loopLag.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
