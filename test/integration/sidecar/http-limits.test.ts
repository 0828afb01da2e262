// Finding 8 (HTTP limits), against the real server on a real port: probes-only mode serves no
// /status, a silent connection is cut off by the header timeout, and connections beyond the cap
// are closed at once while the server keeps answering once the idle ones are gone.
import test, { type ExecutionContext } from 'ava';
import { connect, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../src/common/logger.js';
import { startHttpServer, type HttpServerOptions } from '../../../src/http/http-server.js';
import { waitFor } from '../../helpers/cli.js';

async function server(t: ExecutionContext, extra: Partial<HttpServerOptions> = {}) {
  const running = await startHttpServer(
    { readiness: () => ({ ready: true, volumes: [] }), status: async () => ({ node: 'n', task: 't' }), registry: new Registry() },
    { host: '127.0.0.1', port: 0, logger: silentLogger(), ...extra },
  );
  t.teardown(() => running.close());
  return running;
}

function idle(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

test('finding 8: DVDI_HTTP_ENDPOINTS=probes serves /readyz, /livez, /metrics and no /status', async (t) => {
  const all = await server(t);
  t.is((await fetch(`${all.url}/status`)).status, 200);
  const probes = await server(t, { endpoints: 'probes' });
  t.is((await fetch(`${probes.url}/status`)).status, 404);
  for (const path of ['/readyz', '/livez', '/metrics']) t.is((await fetch(`${probes.url}${path}`)).status, 200, path);
});

test('finding 8: a connection that sends nothing is closed by the idle timeout', async (t) => {
  const running = await server(t, { limits: { idleSocketTimeoutMs: 300 } });
  const { closed } = await idle(running.address.port);
  let done = false;
  void closed.then(() => (done = true));
  await waitFor('the silent connection to be closed', () => done, 10_000);
  t.true(done);
});

test('finding 8: a client trickling its headers (never idle) is closed by the header timeout', async (t) => {
  const running = await server(t, { limits: { headersTimeoutMs: 500, requestTimeoutMs: 500, idleSocketTimeoutMs: 60_000 } });
  const { socket, closed } = await idle(running.address.port);
  let done = false;
  void closed.then(() => (done = true));
  socket.write('GET /readyz HTTP/1.1\r\nX-Slow: ');
  const drip = setInterval(() => socket.writable && socket.write('a'), 100);
  t.teardown(() => clearInterval(drip));
  await waitFor('the trickling connection to be closed', () => done, 10_000);
  t.true(done);
});

test('finding 8: beyond the connection cap new connections are closed at once; the server answers again when idle ones time out', async (t) => {
  const running = await server(t, { limits: { maxConnections: 4, headersTimeoutMs: 1000, requestTimeoutMs: 1000, idleSocketTimeoutMs: 1500 } });
  const held = await Promise.all(Array.from({ length: 4 }, () => idle(running.address.port)));
  const extra = await idle(running.address.port);
  let extraClosed = false;
  void extra.closed.then(() => (extraClosed = true));
  await waitFor('the connection over the cap to be closed', () => extraClosed, 5000);
  t.true(extraClosed);
  let heldClosed = 0;
  for (const h of held) void h.closed.then(() => heldClosed++);
  // Cut off by the idle timeout (1.5 s); bounded, so a timeout that never fires fails by name.
  await waitFor('the idle connections at the cap to be closed by the idle timeout', () => heldClosed === held.length, 30_000);
  t.is((await fetch(`${running.url}/readyz`)).status, 200);
});
