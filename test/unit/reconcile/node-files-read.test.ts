// Reading the node's files under ROOT/.dvdi (reconcile/node-files.ts): the mount ledger and the
// holders' beats are read from what is in each file, and anything that is not an entry of ours
// — a file too large, a symlink, not JSON, another shape, a temp file being written — is
// skipped, never followed or trusted. Real files in a temp directory.
import test from 'ava';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holderBeatFiles, mountLedgerFiles } from '../../../src/reconcile/node-files.js';

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
    await writeFile(join(folder, 'x.json.tmp-1-1'), JSON.stringify({ driver: 'd', name: 'tmp', token: 'tok-t', mountId: 'mt', beatAt: 1000, recordedAt: 1 }));
  }

  t.deepEqual(await beats.list(), [{ driver: 'd', name: 'v', token: 'tok-1', beatAt: 1000 }]);
  t.deepEqual(await ledger.list(), [{ driver: 'd', name: 'v', mountId: 'm1', recordedAt: 2000 }]);
  await beats.forget('tok-1');
  t.deepEqual(await beats.list(), []);
});
