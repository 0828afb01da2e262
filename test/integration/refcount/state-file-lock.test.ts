// The state lock's owner rules against real files and real processes: a live owner makes others
// wait (bounded, logged, typed timeout; a lock that keeps changing hands is waited for longer,
// up to maxWaitMs, since every owner is quick); a dead one (exited, pid reused, other boot, abandoned
// in another PID namespace, or never written) is broken; a fresh foreign lock is respected.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { lutimes, readFile, readlink, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileLock, type LockOwner } from '../../../src/refcount/state-file-lock.js';
import { StoreLockTimeoutError } from '../../../src/refcount/refcount-errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { makeTempDir } from '../../helpers/mount-root.js';

async function setup(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await makeTempDir('state-lock');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'state.lock');
}

async function me(): Promise<Omit<LockOwner, 'nonce' | 'takenAt'>> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  return {
    pid: process.pid,
    pidNs: await readlink('/proc/self/ns/pid'),
    bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
    startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!,
  };
}

const lockAt = (path: string, extra: Partial<ConstructorParameters<typeof FileLock>[0]> = {}) => new FileLock({ path, logger: silentLogger(), timeoutMs: 300, ...extra });

test('a live owner makes the next taker wait, then time out with a typed error naming the owner', async (t) => {
  const path = await setup(t);
  const held = await lockAt(path).acquire();
  const error = await t.throwsAsync(lockAt(path).acquire(), { instanceOf: StoreLockTimeoutError });
  t.is(error.code, 'DVDI_STORE_LOCK_TIMEOUT');
  t.regex(error.message, new RegExp(`pid ${process.pid}`));
  await held.release();
  const again = await lockAt(path).acquire();
  t.false(again.brokeStale);
  await again.release();
});

test('waiters get the lock in turn as soon as it is released', async (t) => {
  const path = await setup(t);
  const first = await lockAt(path, { timeoutMs: 5000 }).acquire();
  const second = lockAt(path, { timeoutMs: 5000 }).acquire();
  setTimeout(() => void first.release(), 50);
  const held = await second;
  t.true(await held.stillHeld());
  t.false(await first.stillHeld());
  await held.release();
});

test('a lock whose owner process has exited is broken', async (t) => {
  const path = await setup(t);
  const child = spawn('sleep', ['0']);
  const pid = child.pid!;
  await once(child, 'exit');
  await writeFile(path, JSON.stringify({ ...(await me()), pid, startTime: '1', nonce: 'dead', takenAt: Date.now() }));
  const held = await lockAt(path).acquire();
  t.true(held.brokeStale);
  t.true(await held.stillHeld());
  await held.release();
});

test('a lock whose pid was reused by another process (start time differs) is broken', async (t) => {
  const path = await setup(t);
  await writeFile(path, JSON.stringify({ ...(await me()), startTime: '1', nonce: 'reused', takenAt: Date.now() }));
  t.true((await lockAt(path).acquire()).brokeStale);
});

test('a lock taken before a reboot is broken', async (t) => {
  const path = await setup(t);
  await writeFile(path, JSON.stringify({ ...(await me()), bootId: 'another-boot', nonce: 'old', takenAt: Date.now() }));
  t.true((await lockAt(path).acquire()).brokeStale);
});

test('another PID namespace: respected while fresh, broken once older than staleMs', async (t) => {
  const path = await setup(t);
  const foreign = { ...(await me()), pid: 1, pidNs: 'pid:[1]', nonce: 'foreign' };
  await writeFile(path, JSON.stringify({ ...foreign, takenAt: Date.now() }));
  await t.throwsAsync(lockAt(path, { staleMs: 60_000 }).acquire(), { instanceOf: StoreLockTimeoutError });
  await writeFile(path, JSON.stringify({ ...foreign, takenAt: Date.now() - 61_000 }));
  t.true((await lockAt(path, { staleMs: 60_000 }).acquire()).brokeStale);
});

test('an empty lock file (owner died between create and write) is broken only once it is old', async (t) => {
  const path = await setup(t);
  await writeFile(path, '');
  await t.throwsAsync(lockAt(path).acquire(), { instanceOf: StoreLockTimeoutError });
  const old = new Date(Date.now() - 10_000);
  await utimes(path, old, old);
  t.true((await lockAt(path).acquire()).brokeStale);
});

test('release never removes a lock that is no longer its own', async (t) => {
  const path = await setup(t);
  const held = await lockAt(path).acquire();
  await writeFile(path, JSON.stringify({ ...(await me()), nonce: 'someone-else', takenAt: Date.now() }));
  t.false(await held.stillHeld());
  await held.release();
  t.regex(await readFile(path, 'utf8'), /someone-else/);
});

test('a long wait is logged while it lasts', async (t) => {
  const path = await setup(t);
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
  const held = await lockAt(path).acquire();
  await t.throwsAsync(new FileLock({ path, logger: pino(sink), timeoutMs: 1300 }).acquire(), { instanceOf: StoreLockTimeoutError });
  await held.release();
  t.true(lines.some((line) => line.includes('waiting for the refcount state lock') && line.includes(`pid ${process.pid}`)));
});

/**
 * Owners in another PID namespace (a busy node's other sidecars), each holding the lock for
 * `everyMs` and handing it straight to the next: the lock file is replaced, never absent.
 */
async function churn(path: string, owner: Omit<LockOwner, 'nonce' | 'takenAt'>, everyMs: number): Promise<{ stop(release: boolean): Promise<void> }> {
  let stopped = false;
  const handOver = async () => {
    const next = `${path}.next`;
    await writeFile(next, JSON.stringify({ ...owner, nonce: randomBytes(6).toString('hex'), takenAt: Date.now() }));
    await rename(next, path);
  };
  await handOver(); // held before the waiter comes
  const running = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, everyMs));
      if (!stopped) await handOver();
    }
  })();
  return {
    async stop(release) {
      stopped = true;
      await running;
      if (release) await rm(path, { force: true });
    },
  };
}

test('a lock that keeps changing hands is waited for past timeoutMs, and taken once it is free', async (t) => {
  const path = await setup(t);
  const others = await churn(path, { ...(await me()), pid: 1, pidNs: 'pid:[1]' }, 60);
  const started = Date.now();
  const waiting = lockAt(path, { timeoutMs: 300, maxWaitMs: 10_000 }).acquire();
  await new Promise((r) => setTimeout(r, 900));
  await others.stop(true);
  const held = await waiting;
  t.true(Date.now() - started >= 900, 'it waited three times timeoutMs without giving up');
  t.false(held.brokeStale, 'nobody was judged dead');
  await held.release();
});

test('a lock that keeps changing hands for maxWaitMs: a typed timeout saying how often it changed hands', async (t) => {
  const path = await setup(t);
  const others = await churn(path, { ...(await me()), pid: 1, pidNs: 'pid:[1]' }, 50);
  t.teardown(() => others.stop(true));
  const error = await t.throwsAsync(lockAt(path, { timeoutMs: 300, maxWaitMs: 1000 }).acquire(), { instanceOf: StoreLockTimeoutError });
  t.is(error.code, 'DVDI_STORE_LOCK_TIMEOUT');
  t.regex(error.message, /not free for this process after \d+ ms: it changed hands \d+ times meanwhile/);
  t.true(Number(error.context.handOvers) >= 5, `changed hands ${String(error.context.handOvers)} times`);
  t.true(Number(error.context.waitedMs) >= 1000);
});

test('one owner holding it for timeoutMs ends the wait however long the wait was before', async (t) => {
  const path = await setup(t);
  const others = await churn(path, { ...(await me()), pid: 1, pidNs: 'pid:[1]' }, 50);
  const waiting = t.throwsAsync(lockAt(path, { timeoutMs: 300, maxWaitMs: 60_000 }).acquire(), { instanceOf: StoreLockTimeoutError });
  await new Promise((r) => setTimeout(r, 600));
  await others.stop(false); // the last owner keeps it: stuck
  const error = await waiting;
  t.true(Number(error.context.heldForMs) >= 300);
  // 600 ms of hand-overs, then at least 300 ms of the last owner (its hand-over up to 50 ms before the stop).
  t.true(Number(error.context.waitedMs) >= 800, `waited ${String(error.context.waitedMs)} ms: the hand-overs before did not count against timeoutMs`);
  t.regex(error.message, /held now by pid 1 \(pid:\[1\]\), for \d+ ms/);
});

test('a FIFO or a symlink planted at the lock path is never read: judged unreadable, broken once old, the link target untouched', async (t) => {
  const path = await setup(t);
  const victim = `${path}-victim`;
  await writeFile(victim, 'precious');
  const old = new Date(Date.now() - 10_000);
  for (const kind of ['fifo', 'symlink'] as const) {
    await rm(path, { force: true });
    if (kind === 'fifo') execFileSync('mkfifo', [path]);
    else await symlink(victim, path);
    // Fresh: respected (it could be an owner between create and write), within the timeout.
    await t.throwsAsync(lockAt(path).acquire(), { instanceOf: StoreLockTimeoutError }, kind);
    await lutimes(path, old, old);
    const held = await lockAt(path).acquire();
    t.true(held.brokeStale, `${kind}: broken once older than 2 s`);
    t.true(await held.stillHeld());
    await held.release();
  }
  t.is(await readFile(victim, 'utf8'), 'precious');
});
