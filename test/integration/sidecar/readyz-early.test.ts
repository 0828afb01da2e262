// /readyz and /livez answer from the first moment: the HTTP endpoints listen before the mount
// root preflight and the store connection, so a probe sees 503 with a reason ("waiting for
// store") rather than "connection refused" while the store is unreachable; /livez is 200 then.
import test from 'ava';
import { createServer } from 'node:net';
import { startDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rigs = rigsFor(test);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a sidecar whose store is unreachable answers /readyz 503 with its reason, /livez 200, then exits 4', async (t) => {
  const node = await rigs();
  const [httpPort, deadRedisPort] = [await freePort(), await freePort()];
  const started = Date.now();
  const child = startDvdi(['sidecar'], { ...node.env, DVDI_HTTP_ADDR: `127.0.0.1:${httpPort}`, DVDI_REDIS_URL: `redis://127.0.0.1:${deadRedisPort}/0`, DVDI_VOLUME_NAME: 'early', DVDI_TASK_ID: 'early-task' });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let first: Response | undefined;
  const refusals: string[] = [];
  while (first === undefined && child.exitCode === null) {
    try {
      first = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    } catch (error) {
      refusals.push(String((error as { cause?: { code?: string } }).cause?.code ?? error));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  t.log(`first /readyz answer ${Date.now() - started} ms after spawn (process start included), ${refusals.length} refused polls before`);
  t.truthy(first, 'answered before exiting');
  t.is(first!.status, 503);
  t.like(await first!.json(), { ready: false });
  // The store wait lasts its connect budget (10 s): the reason names it meanwhile.
  let body: { ready: boolean; reason?: string } | undefined;
  for (let i = 0; i < 200 && child.exitCode === null; i++) {
    body = (await (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).json()) as { ready: boolean; reason?: string };
    if (body.reason === 'waiting for store') break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  t.deepEqual(body, { ready: false, reason: 'waiting for store', volumes: [] });
  t.is((await fetch(`http://127.0.0.1:${httpPort}/livez`)).status, 200, 'alive while starting');
  const finished = await child.finished;
  t.is(finished.code, 4, finished.stderr);
  t.regex(finished.stderr, /redis refcount store unavailable during connect \(no answer within 10000 ms\)/);
});
