// The embedded store shared by real processes: no lost update under contention, and a SIGKILL
// at any instant leaves a parseable state file and a lock the next process recovers.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedRefcountStore } from '../../../src/refcount/embedded-refcount-store.js';
import { parseState } from '../../../src/refcount/state-file.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { makeTempDir } from '../../helpers/mount-root.js';

const WORKER = fileURLToPath(new URL('fixtures/store-worker.ts', import.meta.url));
const children = new Set<ChildProcess>();

test.after.always(() => {
  for (const child of children) child.kill('SIGKILL');
});

function startWorker(...args: string[]): { child: ChildProcess; output: () => string; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before a line: ${err}`)));
  });
  firstLine.catch(() => undefined);
  return { child, output: () => out, firstLine };
}

async function finish(worker: ReturnType<typeof startWorker>): Promise<string> {
  const [code] = (await once(worker.child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`worker exited with ${code}`);
  return worker.output();
}

test('4 processes × 25 acquire/release cycles on one state file: no lost update, nothing left held', async (t) => {
  const dir = await makeTempDir('refcount-procs');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, '.dvdi');
  const workers = [0, 1, 2, 3].map((i) => startWorker('cycles', stateDir, `p${i}`, '25'));
  const summaries = (await Promise.all(workers.map(finish))).map((out) => JSON.parse(out) as { mounts: number; joins: number; unmounts: number });
  const total = summaries.reduce((a, s) => ({ mounts: a.mounts + s.mounts, joins: a.joins + s.joins, unmounts: a.unmounts + s.unmounts }), { mounts: 0, joins: 0, unmounts: 0 });
  t.is(total.mounts + total.joins, 100, 'every cycle got the volume');
  t.is(total.mounts, total.unmounts, 'every mount was unmounted exactly once');
  t.log(`mounts ${total.mounts}, joins ${total.joins}`);
  const store = new EmbeddedRefcountStore({ dir: stateDir, clock: systemClock, logger: silentLogger() });
  const view = await store.inspect({ driver: 'test', name: 'shared-vol' });
  t.deepEqual(view?.holders, []);
  t.deepEqual(view?.nodes ?? [], []);
});

test('4 processes registering 25 holders each: all 100 are in the file (no lost update)', async (t) => {
  const dir = await makeTempDir('refcount-hold');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, '.dvdi');
  await Promise.all([0, 1, 2, 3].map((i) => finish(startWorker('hold', stateDir, `h${i}`, '25'))));
  const store = new EmbeddedRefcountStore({ dir: stateDir, clock: systemClock, logger: silentLogger() });
  const view = await store.inspect({ driver: 'test', name: 'shared-vol' });
  t.is(view?.holders.length, 100);
  t.is(new Set(view?.holders.map((h) => h.token)).size, 100);
  t.like(view?.nodes[0], { state: 'mounted' });
});

test('SIGKILL at random instants never corrupts the state file, and the lock is always recovered', async (t) => {
  const dir = await makeTempDir('refcount-kill');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, '.dvdi');
  const store = new EmbeddedRefcountStore({ dir: stateDir, clock: systemClock, logger: silentLogger(), lockTimeoutMs: 5000 });
  t.teardown(() => store.close());
  let lockLeft = 0;
  let tempLeft = 0;
  for (let round = 0; round < 20; round++) {
    const worker = startWorker('loop', stateDir, `k${round}`);
    t.is(await worker.firstLine, 'ready');
    await sleep(Math.random() * 40);
    worker.child.kill('SIGKILL');
    await once(worker.child, 'exit');

    const names = await readdir(stateDir);
    if (names.includes('state.lock')) lockLeft++;
    tempLeft += names.filter((n) => n.startsWith('state.json.tmp-')).length;
    // The file is always a whole state: the old one or the new one.
    const state = parseState(await readFile(join(stateDir, 'state.json'), 'utf8'), 'state.json');
    t.true(Object.keys(state.volumes).length >= 1);
    // The next process gets the lock (breaking the dead owner's) and writes.
    const probe = { driver: 'test', name: `probe-${round}`, node: 'node-1', token: `probe-${round}` };
    t.like(await store.acquire({ ...probe, task: 'probe', mode: 'shared', preempt: false, ttlMs: 60_000 }), { kind: 'mount' });
    t.deepEqual(await store.release(probe), { kind: 'released' });
    const after = await readdir(stateDir);
    t.false(after.includes('state.lock'), 'lock released');
    t.deepEqual(after.filter((n) => n.startsWith('state.json.tmp-')), [], 'a dead writer’s temp file is cleared');
  }
  t.log(`killed holding the lock: ${lockLeft}/20; temp files left by the killed writer: ${tempLeft}`);
});
