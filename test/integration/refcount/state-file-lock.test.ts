// The state lock's owner rules against real files and real processes: a live owner makes others
// wait (bounded, logged, typed timeout); a dead one (exited, pid reused, other boot, abandoned
// in another PID namespace, or never written) is broken; a fresh foreign lock is respected.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises';
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
