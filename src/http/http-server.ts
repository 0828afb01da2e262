// The sidecar's HTTP face: /readyz, /livez, /metrics, /status. It holds no domain logic: it asks
// the providers it is given and renders their answers. GET (and HEAD) only; other methods 405,
// unknown paths 404.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
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

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
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

export async function startHttpServer(providers: HttpProviders, options: HttpServerOptions): Promise<RunningHttpServer> {
  const loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const maxDelayNs = (options.maxEventLoopDelayMs ?? 5000) * 1e6;

  const routes: Record<string, (res: ServerResponse, head: boolean) => void | Promise<void>> = {
    '/readyz': (res, head) => {
      const report = providers.readiness();
      sendJson(res, report.ready ? 200 : 503, report, head);
    },
    '/livez': (res, head) => {
      const p99 = loopDelay.percentile(99);
      loopDelay.reset();
      const healthy = p99 < maxDelayNs;
      sendJson(res, healthy ? 200 : 503, { live: healthy, eventLoopDelayP99Ms: Math.round(p99 / 1e6) }, head);
    },
    '/metrics': async (res, head) => {
      const body = await providers.registry.metrics();
      send(res, 200, body, providers.registry.contentType, head);
    },
    '/status': async (res, head) => {
      sendJson(res, 200, await providers.status(), head);
    },
  };

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

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.logger.error({ err: error, url: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' }, false);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 10_000;

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
      loopDelay.disable();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
