// Reading the node's files under ROOT/.dvdi (reconcile/node-files.ts): the mount ledger and the
// holders' beats are read from what is in each file, and anything that is not an entry of ours
// — a file too large, a symlink, a FIFO, not JSON, another shape, a temp file being written — is
// skipped, never followed or trusted; the sweep stamp is a regular file's time, or nothing.
// Real files in a temp directory.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/logger.js';
import { holderBeatFiles, mountLedgerFiles, sweepLockFile, sweepStampFile } from '../../../src/reconcile/node-files.js';

test('beats and ledger entries: only whole, small, plain JSON files of the right shape are read', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-node-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const beats = holderBeatFiles(dir);
  await beats.beat({ driver: 'd', name: 'v', token: 'tok-1', beatAt: 1000 });
  const ledger = mountLedgerFiles(dir, { now: () => 2000 });
  await ledger.record({ driver: 'd', name: 'v', mountId: 'm1' });

  // Planted beside them (a hostile neighbour with write access, or a broken earlier version).
  const secret = join(dir, 'secret.json');
  await writeFile(secret, JSON.stringify({ driver: 'd', name: 'stolen', token: 'tok-s', beatAt: 1000 }));
  for (const folder of [join(dir, 'holders'), join(dir, 'mounts')]) {
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'huge.json'), JSON.stringify({ driver: 'd', name: 'big', token: 'tok-h', mountId: 'mh', beatAt: 1000, recordedAt: 1, pad: 'x'.repeat(100_000) }));
    await symlink(secret, join(folder, 'link.json'));
    await writeFile(join(folder, 'garbage.json'), '{"driver": ');
    await writeFile(join(folder, 'array.json'), '[1,2,3]');
    await writeFile(join(folder, 'shape.json'), JSON.stringify({ driver: 1, name: 'v', token: 'tok-x', mountId: 'mx', beatAt: 'now' }));
    execFileSync('mkfifo', [join(folder, 'fifo.json')]); // a plain open of it waits for a writer
    await writeFile(join(folder, 'x.json.tmp-1-1'), JSON.stringify({ driver: 'd', name: 'tmp', token: 'tok-t', mountId: 'mt', beatAt: 1000, recordedAt: 1 }));
  }

  t.deepEqual(await beats.list(), [{ driver: 'd', name: 'v', token: 'tok-1', beatAt: 1000 }]);
  t.deepEqual(await ledger.list(), [{ driver: 'd', name: 'v', mountId: 'm1', recordedAt: 2000 }]);
  await beats.forget('tok-1');
  t.deepEqual(await beats.list(), []);
});

test('the sweep stamp: the time of a regular file; a symlink or a FIFO there is neither followed nor waited for', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-node-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stamp = sweepStampFile(dir);
  t.is(await stamp.lastStarted(), undefined, 'no sweep on record');
  await stamp.record(1_700_000_000_123);
  t.is(await stamp.lastStarted(), 1_700_000_000_123);
  await stamp.record(1_700_000_030_456);
  t.is(await stamp.lastStarted(), 1_700_000_030_456);

  const elsewhere = join(dir, 'elsewhere');
  await writeFile(elsewhere, 'not ours');
  const untouched = (await stat(elsewhere)).mtimeMs;
  await rm(join(dir, 'last-sweep'));
  await symlink(elsewhere, join(dir, 'last-sweep'));
  t.is(await stamp.lastStarted(), undefined, 'a symlink is no stamp');
  await t.throwsAsync(stamp.record(1_600_000_000_000));
  t.is((await stat(elsewhere)).mtimeMs, untouched, "the link's target keeps its time");

  await rm(join(dir, 'last-sweep'));
  execFileSync('mkfifo', [join(dir, 'last-sweep')]);
  t.is(await stamp.lastStarted(), undefined, 'a FIFO is no stamp');
  await t.throwsAsync(stamp.record(1_600_000_000_000)); // refused at once, not blocked on a writer
});

test('the sweep lock: a second taker waits for it, or with wait: false gives up at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-node-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lock = sweepLockFile(dir, silentLogger());
  const held = await lock.tryAcquire();
  t.truthy(held);
  t.is(await lock.tryAcquire({ wait: false }), undefined);
  const waiting = lock.tryAcquire();
  setTimeout(() => void held?.release(), 50);
  const next = await waiting; // freed within the 250 ms wait
  t.truthy(next);
  await next?.release();
  const free = await lock.tryAcquire({ wait: false });
  t.truthy(free, 'a free lock is taken by one try');
  await free?.release();
});
