// /livez judges the event loop: 200 while it turns, 503 once it has been stalled longer than
// maxEventLoopDelayMs since the last probe, 200 again after. Real HTTP server on loopback; the
// stall is a busy wait in this very process, as a runaway synchronous step would be. The delay
// is sampled every LIVENESS_SAMPLE_MS, so the stall outlasts a sample by a whole interval.
import test from 'ava';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../src/common/logger.js';
import { LIVENESS_SAMPLE_MS, startHttpServer } from '../../../src/http/http-server.js';

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the loop is stuck here, as in a runaway synchronous step
  }
}

test('/livez turns 503 after a stall longer than the limit, and 200 again once the loop turns', async (t) => {
  const server = await startHttpServer(
    { readiness: () => ({ ready: true, volumes: [] }), status: () => Promise.resolve({}), registry: new Registry() },
    { host: '127.0.0.1', port: 0, maxEventLoopDelayMs: 500, logger: silentLogger() },
  );
  t.teardown(() => server.close());
  const livez = async (): Promise<{ status: number; body: { live: boolean; eventLoopDelayP99Ms: number } }> => {
    const res = await fetch(`${server.url}/livez`);
    return { status: res.status, body: (await res.json()) as { live: boolean; eventLoopDelayP99Ms: number } };
  };
  await new Promise((resolve) => setTimeout(resolve, 2 * LIVENESS_SAMPLE_MS));
  t.is((await livez()).status, 200, 'alive while the loop turns');

  busyWait(2 * LIVENESS_SAMPLE_MS + 500);
  await new Promise((resolve) => setTimeout(resolve, LIVENESS_SAMPLE_MS / 2));
  const stalled = await livez();
  t.is(stalled.status, 503);
  t.false(stalled.body.live);
  t.true(stalled.body.eventLoopDelayP99Ms > 500, `p99 ${stalled.body.eventLoopDelayP99Ms} ms`);

  // Each probe judges the time since the previous one.
  await new Promise((resolve) => setTimeout(resolve, 2 * LIVENESS_SAMPLE_MS));
  t.is((await livez()).status, 200, 'alive again');
});
