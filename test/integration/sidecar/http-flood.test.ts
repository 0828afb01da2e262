// Finding 8 (HTTP limits), the acceptance run: 20,000 idle TCP connections to a real sidecar's
// HTTP port — opened by five child processes (each below this machine's descriptor limit),
// every closed one reopened a few seconds later so the pressure lasts — while the sidecar
// renews a 3 s lease on the embedded store every second. It stays up and ready, /readyz answers
// afterwards, and the lease is never lost: every renewal in /metrics is `ok`.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);
const CONNECTIONS = 20_000;
const CHILDREN = 5;
const FLOOD_MS = 25_000;

// One child: open `n` sockets, send nothing, reopen each closed one after 3 s; on SIGTERM print
// the peak of simultaneously open sockets and how many opens succeeded.
const FLOODER = `
const net = require('net');
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let open = 0, peak = 0, opened = 0, stopping = false;
function one() {
  if (stopping) return;
  const s = net.connect({ host, port });
  let connected = false;
  s.on('connect', () => { connected = true; open++; opened++; if (open > peak) peak = open; });
  s.on('error', () => {});
  s.on('close', () => { if (connected) open--; setTimeout(one, 3000); });
}
let i = 0;
(function batch() { for (let k = 0; k < 500 && i < n; k++, i++) one(); if (i < n) setTimeout(batch, 20); else console.error('all started'); })();
process.on('SIGTERM', () => { stopping = true; console.log(JSON.stringify({ peak, opened })); process.exit(0); });
`;

function startFlooder(host: string, port: number, n: number): { child: ChildProcess; result: Promise<{ peak: number; opened: number }> } {
  const child = spawn(process.execPath, ['-e', FLOODER, host, String(port), String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const result = new Promise<{ peak: number; opened: number }>((resolve) => child.on('close', () => resolve(out.trim() === '' ? { peak: 0, opened: 0 } : (JSON.parse(out) as { peak: number; opened: number }))));
  return { child, result };
}

function counter(metrics: string, outcome: string): number {
  const match = new RegExp(`^dvdi_lease_renewals_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics);
  return match === null ? 0 : Number(match[1]);
}

test('finding 8: 20,000 idle connections to the HTTP port: the sidecar stays ready and never loses its lease', async (t) => {
  t.timeout(180_000);
  const node = await rig();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'flooded', DVDI_LEASE_TTL_MS: '3000', DVDI_TASK_ID: 'flood-task' });
  await sidecar.waitReady();
  const before = await (await fetch(`${sidecar.url}/metrics`)).text();
  const url = new URL(sidecar.url);

  const flooders = Array.from({ length: CHILDREN }, () => startFlooder(url.hostname, Number(url.port), CONNECTIONS / CHILDREN));
  t.teardown(() => {
    for (const f of flooders) if (f.child.exitCode === null) f.child.kill('SIGKILL');
  });
  let answered = 0;
  let notReady = 0;
  const deadline = Date.now() + FLOOD_MS;
  while (Date.now() < deadline) {
    await sleep(1000);
    t.is(sidecar.child.exitCode, null, `the sidecar exited during the flood: ${sidecar.child.output.stderr.slice(-2000)}`);
    // During the flood a probe may be turned away at the cap; any answer it gets must be "ready".
    const status = await fetch(`${sidecar.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status).catch(() => undefined);
    if (status !== undefined) answered++;
    if (status !== undefined && status !== 200) notReady++;
  }
  for (const f of flooders) f.child.kill('SIGTERM');
  const results = await Promise.all(flooders.map((f) => f.result));
  const opened = results.reduce((sum, r) => sum + r.opened, 0);
  t.log(`connections opened by the flooders: ${opened}; peak open per child: ${results.map((r) => r.peak).join(', ')}; readyz answered ${answered} of ${Math.round(FLOOD_MS / 1000)} tries during the flood`);
  t.true(opened >= CONNECTIONS, `the flood really connected ${CONNECTIONS} times (got ${opened})`);
  t.is(notReady, 0, 'never not-ready while flooded');

  // After: still alive, ready, and every renewal since the start was ok.
  t.is(sidecar.child.exitCode, null);
  let readyAfter = 0;
  for (let attempt = 0; attempt < 30 && readyAfter !== 200; attempt++) {
    readyAfter = await fetch(`${sidecar.url}/readyz`).then((r) => r.status).catch(() => 0);
    if (readyAfter !== 200) await sleep(500);
  }
  t.is(readyAfter, 200, '/readyz answers 200 after the flood');
  const after = await (await fetch(`${sidecar.url}/metrics`)).text();
  t.true(counter(after, 'ok') - counter(before, 'ok') >= Math.floor(FLOOD_MS / 2000), `renewals kept going: ${counter(before, 'ok')} → ${counter(after, 'ok')}`);
  t.is(counter(after, 'lost'), 0, 'no lease lost');
  t.is(counter(after, 'error'), 0, 'no renewal failed');
  t.false(/EMFILE/.test(sidecar.child.output.stderr), 'no descriptor exhaustion');
  const stopped = await sidecar.stop();
  t.is(stopped.code, 0, stopped.stderr.slice(-2000));
});
