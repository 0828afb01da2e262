import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runDvdi } from '../../helpers/cli.js';

/** Answers 503 to the first `notReadyAnswers` requests and until `readyAfterMs` has passed. */
async function flakyReadyServer(readyAfterMs: number, notReadyAnswers = 2) {
  const started = Date.now();
  let requests = 0;
  let firstOkAt: number | undefined;
  const server = createServer((_req, res) => {
    requests++;
    const ready = requests > notReadyAnswers && Date.now() - started >= readyAfterMs;
    if (ready) firstOkAt ??= Date.now();
    res.writeHead(ready ? 200 : 503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/readyz`, requests: () => requests, firstOkAt: () => firstOkAt, close: () => new Promise((r) => server.close(r)) };
}

test('runs the command only once ready and exits with its status', async (t) => {
  const server = await flakyReadyServer(1500);
  t.teardown(() => server.close());
  // The command prints when it ran (ms since the epoch); it must be after the first 200.
  const result = await runDvdi(['wait', '--url', server.url, '--interval', '100', '--', 'sh', '-c', 'echo "ran $(date +%s%3N)"; exit 7']);
  t.is(result.code, 7);
  const ranAt = Number(/^ran (\d+)$/.exec(result.stdout.trim())?.[1]);
  t.true(server.firstOkAt() !== undefined && ranAt >= server.firstOkAt()!, 'the command must not run before /readyz answered 200');
  t.true(server.requests() >= 3, 'it polled through the 503s');
});

test('times out with exit 1 and names the URL', async (t) => {
  const server = await flakyReadyServer(60_000);
  t.teardown(() => server.close());
  const result = await runDvdi(['wait', '--url', server.url, '--timeout', '1', '--interval', '100', '--', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /not ready after 1 s \(last answer: 503\)/);
});

test('bad arguments exit 2 with the accepted form', async (t) => {
  const result = await runDvdi(['wait', '--timeout', 'soon']);
  t.is(result.code, 2);
  t.regex(result.stderr, /--timeout "soon" is not valid: expected seconds >= 0/);
});

test('a refused connection is waited out, not fatal', async (t) => {
  const result = await runDvdi(['wait', '--url', 'http://127.0.0.1:1/readyz', '--timeout', '1', '--interval', '100']);
  t.is(result.code, 1);
  t.regex(result.stderr, /ECONNREFUSED/);
});
