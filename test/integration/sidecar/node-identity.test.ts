// Issue 12 finding 3 (sidecars with different node IDs on one mount root unmount each other):
// the root records its node ID in ROOT/.dvdi/node-id; a sidecar or `dvdi reconcile` with another
// ID exits 2 naming DVDI_NODE_ID before it sweeps anything, so the first sidecar's bind survives
// 20 s of reconciles every 2 s; the hostname fallback is logged as a warning; a symlinked
// ROOT/.dvdi is refused (the state and the ledger are never written through it).
import test from 'ava';
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rigs = rigsFor(test);

function sweepsIn(log: string): number {
  return log.split('\n').filter((line) => line.includes('"msg":"reconcile sweep done"')).length;
}

test('two sidecars with different DVDI_NODE_ID on one root, reconcile every 2 s for 20 s: the second exits 2, no live bind is unmounted', async (t) => {
  const rig = await rigs({ node: 'node-a', env: { DVDI_RECONCILE_CRON: '*/2 * * * * *', DVDI_LEASE_TTL_MS: '3000' } });
  const first = await rig.sidecar({ DVDI_VOLUME_NAME: 'live1' });
  await first.waitReady();
  t.is((await readFile(join(rig.root, '.dvdi', 'node-id'), 'utf8')).trim(), 'node-a');
  const target = join(rig.root, 'live1');
  t.true(await rig.isMounted(target));

  const intruder = await runDvdi(['sidecar'], { ...rig.env, DVDI_NODE_ID: 'node-b', DVDI_VOLUME_NAME: 'other1' });
  t.is(intruder.code, 2, intruder.stderr);
  t.regex(intruder.stderr, /belongs to node ID "node-a"/);
  t.regex(intruder.stderr, /has node ID "node-b" \(from DVDI_NODE_ID\)/);
  t.regex(intruder.stderr, /Set DVDI_NODE_ID=node-a/);
  const sweep = await rig.reconcile({ DVDI_NODE_ID: 'node-b' });
  t.is(sweep.code, 2, sweep.stderr);
  t.regex(sweep.stderr, /DVDI_NODE_ID/);

  // 20 s of the first sidecar's 2 s reconciles (counted in its log), the refused ones tried again meanwhile.
  const sweepsBefore = sweepsIn(first.child.output.stderr);
  const deadline = Date.now() + 20_000;
  let retried = false;
  while (Date.now() < deadline) {
    t.true(await rig.isMounted(target), 'the live bind is still mounted');
    t.is((await fetch(`${first.url}/readyz`)).status, 200);
    if (!retried && Date.now() > deadline - 12_000) {
      retried = true;
      t.is((await runDvdi(['reconcile'], { ...rig.env, DVDI_NODE_ID: 'node-c' })).code, 2);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  t.true(sweepsIn(first.child.output.stderr) - sweepsBefore >= 2, 'the first sidecar kept sweeping meanwhile');
  t.true(await rig.isMounted(target));
  t.false(rig.journal().some((e) => e.op === 'Unmount'), 'no driver Unmount was sent while the holder lived');
  t.is((await first.stop()).code, 0);
  t.false(await rig.isMounted(target));
});

test('the hostname fallback logs a warning naming DVDI_NODE_ID (and is refused on a root of another ID)', async (t) => {
  const rig = await rigs({ node: 'node-a' });
  // The first start records node-a; then one without DVDI_NODE_ID, HOST or NODE_NAME.
  t.is((await rig.reconcile()).code, 0);
  const result = await runDvdi(['sidecar'], { ...rig.env, DVDI_NODE_ID: '', HOST: '', NODE_NAME: '', DVDI_VOLUME_NAME: 'h1' });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /"level":"warn".*DVDI_NODE_ID is not set \(nor HOST or NODE_NAME\): using the hostname/);
  t.regex(result.stderr, /\(from hostname\)/);
  t.false(await rig.isMounted(join(rig.root, 'h1')));
  t.deepEqual(rig.journal(), []);
});

test('a symlinked ROOT/.dvdi is refused (exit 3) and nothing is written where it points', async (t) => {
  const rig = await rigs({ node: 'node-a' });
  const elsewhere = join(rig.temp.dir, 'elsewhere');
  await mkdir(elsewhere);
  await symlink(elsewhere, join(rig.root, '.dvdi'));
  const result = await runDvdi(['sidecar'], { ...rig.env, DVDI_VOLUME_NAME: 's1' });
  t.is(result.code, 3, result.stderr);
  t.regex(result.stderr, /\.dvdi is a symlink/);
  t.deepEqual(await readdir(elsewhere), []);
  t.is((await rig.reconcile()).code, 3);
  t.deepEqual(await readdir(elsewhere), []);
  t.deepEqual(rig.journal(), []);
});
