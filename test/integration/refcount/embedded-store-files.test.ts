// Finding 9 (embedded store files), against real files: a corrupt state.json is reported at once
// naming the file and the problem, with the previous good copy kept beside it; idle records are
// pruned; a lock stamped far in the future goes stale while one slightly ahead is respected; a
// state.json that is a FIFO, a symlink or too large is refused without hanging or writing.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { lstat, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { EmbeddedRefcountStore, IDLE_RECORD_RETENTION_MS } from '../../../src/refcount/embedded-refcount-store.js';
import { StoreLockTimeoutError, StoreStateCorruptError } from '../../../src/refcount/refcount-errors.js';
import { FileLock } from '../../../src/refcount/state-file-lock.js';
import { MAX_STATE_BYTES, parseState, PREVIOUS_STATE_FILE, STATE_FILE } from '../../../src/refcount/state-file.js';
import { storeAnswers } from '../../../src/refcount/store-connect.js';
import { makeTempDir } from '../../helpers/mount-root.js';

async function storeDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await makeTempDir('embedded-files');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const store = (dir: string) => new EmbeddedRefcountStore({ dir, clock: systemClock, logger: silentLogger(), lockTimeoutMs: 500 });
const req = (name: string, token: string) => ({ driver: 'd', name, node: 'n1', token, task: `task-${token}`, mode: 'exclusive' as const, preempt: false, ttlMs: 60_000 });

test('finding 9: a corrupt state.json is reported at once, naming the file and the problem; state.json.prev keeps the last good state', async (t) => {
  const dir = await storeDir(t);
  const s = store(dir);
  t.teardown(() => s.close());
  await s.acquire(req('v1', 't1'));
  const good = await readFile(join(dir, STATE_FILE), 'utf8');
  await s.acquire(req('v2', 't2'));
  t.is(await readFile(join(dir, PREVIOUS_STATE_FILE), 'utf8'), good, 'the state before the last write is kept');

  for (const [garbage, problem] of [
    ['{"version":1,"volumes":{"d/v1":{"driver":"d","name":"v1","epoch":1,"holders":"abc","nodes":[]}}}', /volumes\.d\/v1\.holders: /],
    ['{"version":1,"vol', /it is not JSON/],
    ['[1,2,3]', /the top level/],
  ] as const) {
    await writeFile(join(dir, STATE_FILE), garbage);
    // A budget far longer than the test: before the fix, ping() said "no" for the whole budget.
    const error = await t.throwsAsync(storeAnswers(s, 600_000), { instanceOf: StoreStateCorruptError });
    t.is(error.code, 'DVDI_STORE_STATE_CORRUPT');
    t.true(error.message.includes(join(dir, STATE_FILE)), error.message);
    t.regex(error.message, problem);
    t.regex(error.message, /state\.json\.prev/);
    t.is(error.exitCode, 4);
    const refused = await t.throwsAsync(s.acquire(req('v3', 't3')), { instanceOf: StoreStateCorruptError });
    t.truthy(refused);
    t.is(await readFile(join(dir, STATE_FILE), 'utf8'), garbage, 'a corrupt file is never overwritten');
  }
  t.notThrows(() => parseState(good, 'prev'), 'the kept copy is a valid state to recover from');
});

test('finding 9: idle records in the embedded store are pruned once idle longer than the retention', async (t) => {
  const dir = await storeDir(t);
  // 20,000 idle records as an older version left them: no holders, every node absent.
  const volumes: Record<string, unknown> = {};
  for (let i = 0; i < 20_000; i++) volumes[`d/idle${i}`] = { driver: 'd', name: `idle${i}`, epoch: 1, holders: [], nodes: [{ node: 'n1', state: 'absent', lastLiveAt: 1 }] };
  await writeFile(join(dir, STATE_FILE), JSON.stringify({ version: 1, volumes }));
  let offset = 0;
  const clock = { ...systemClock, now: () => Date.now() + offset };
  const s = new EmbeddedRefcountStore({ dir, clock, logger: silentLogger(), lockTimeoutMs: 500 });
  t.teardown(() => s.close());
  const names = async (): Promise<string[]> => Object.values((JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { volumes: Record<string, { name: string }> }).volumes).map((v) => v.name);

  await s.acquire(req('live', 't1'));
  t.is((await names()).length, 20_001, 'kept for the retention: the epoch of a recently idle volume must survive');
  offset = IDLE_RECORD_RETENTION_MS + 1000;
  await s.renew({ driver: 'd', name: 'live', node: 'n1', token: 't1' }, 60_000);
  await s.acquire(req('live2', 't2'));
  t.deepEqual((await names()).sort(), ['live', 'live2'], 'idle past the retention: pruned; live ones stay');
  const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { idleSince?: Record<string, number> };
  t.deepEqual(state.idleSince, {}, 'no stamp outlives its record');
});

async function foreignOwner(takenAt: number): Promise<string> {
  return JSON.stringify({
    pid: 1,
    pidNs: 'pid:[1]', // another PID namespace: cannot be probed, only aged
    bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
    startTime: '1',
    nonce: 'future',
    takenAt,
  });
}

test('finding 9: a lock stamped in the future beyond the tolerated bound goes stale', async (t) => {
  const dir = await storeDir(t);
  const path = join(dir, 'state.lock');
  await writeFile(path, await foreignOwner(Date.now() + 24 * 3600_000));
  const held = await new FileLock({ path, logger: silentLogger(), timeoutMs: 2000, staleMs: 1000 }).acquire();
  t.true(held.brokeStale);
  await held.release();
});

test('finding 9: a foreign lock only slightly in the future (within the bound) is still respected', async (t) => {
  const dir = await storeDir(t);
  const path = join(dir, 'state.lock');
  await writeFile(path, await foreignOwner(Date.now() + 500));
  await t.throwsAsync(new FileLock({ path, logger: silentLogger(), timeoutMs: 300, staleMs: 10_000 }).acquire(), { instanceOf: StoreLockTimeoutError });
});

test('a state.json that is no plain file — a FIFO, a symlink, a file beyond the size bound — is refused at once, and left as it is', async (t) => {
  const dir = await storeDir(t);
  const path = join(dir, STATE_FILE);
  const victim = join(dir, 'victim.json');
  await writeFile(victim, '{"version":1,"volumes":{}}');
  const plant = {
    // Reading a FIFO nobody writes to would block the lock's owner for ever.
    fifo: async () => execFileSync('mkfifo', [path]),
    symlink: async () => symlink(victim, path),
    oversize: async () => truncate(path, MAX_STATE_BYTES + 1),
  };
  for (const [kind, make] of Object.entries(plant)) {
    await rm(path, { force: true });
    if (kind === 'oversize') await writeFile(path, '');
    await make();
    const s = store(dir);
    const refused = await Promise.race([
      t.throwsAsync(s.acquire(req(`v-${kind}`, `t-${kind}`)), { instanceOf: StoreStateCorruptError }),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000)),
    ]);
    t.truthy(refused, `${kind}: refused within 5 s`);
    t.regex(refused?.message ?? '', kind === 'fifo' ? /it is not a regular file/ : kind === 'symlink' ? /it is a symbolic link/ : /more than the \d+ a state may/, kind);
    await s.close();
    const after = await lstat(path);
    t.true(kind === 'fifo' ? after.isFIFO() : kind === 'symlink' ? after.isSymbolicLink() : after.size === MAX_STATE_BYTES + 1, `${kind}: left as it was`);
  }
  t.is(await readFile(victim, 'utf8'), '{"version":1,"volumes":{}}', "the symlink's target was never written");
});
