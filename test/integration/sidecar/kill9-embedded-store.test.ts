// Issue 3: a kill -9 of one of two sidecars never corrupts the embedded store. One sidecar keeps
// the volume; a second one is started and SIGKILLed at a random instant (seeded) again and
// again — while acquiring, mounting, renewing, or idle. After every kill the state file parses
// and validates, the survivor stays ready; at the end the reconciler has removed every dead
// claim and the survivor's release unmounts the volume exactly once.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';
import { prng } from '../../helpers/prng.js';
import { EmbeddedRefcountStore } from '../../../src/refcount/embedded-refcount-store.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';

const ROUNDS = 12;
const SEED = Number(process.env.KILL9_SEED ?? 20261122);

let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

test(`kill -9 of the second sidecar ${ROUNDS} times never corrupts the embedded store (seed ${SEED})`, async (t) => {
  const random = prng(SEED);
  // A 3 s lease: short enough to reap the dead quickly, long enough that the survivor's renewals
  // (every second) never miss it on a loaded 2-core machine (it would rightly fence itself).
  const fast = { DVDI_LEASE_TTL_MS: '3000', DVDI_RECONCILE_CRON: '* * * * * *', DVDI_VOLUME_NAME: 'k9vol' };
  const survivor = await node.sidecar({ ...fast, DVDI_TASK_ID: 'survivor' });
  await survivor.waitReady();
  const statePath = join(node.root, '.dvdi', 'state.json');
  const store = new EmbeddedRefcountStore({ dir: join(node.root, '.dvdi'), clock: systemClock, logger: silentLogger() });
  t.teardown(() => store.close());

  for (let round = 0; round < ROUNDS; round++) {
    const victim = await node.sidecar({ ...fast, DVDI_TASK_ID: `victim-${round}` });
    const delayMs = Math.floor(random() * 900);
    await new Promise((r) => setTimeout(r, delayMs));
    victim.child.kill('SIGKILL');
    await victim.child.finished;
    JSON.parse(await readFile(statePath, 'utf8')); // parses: never torn
    const view = await store.inspect({ driver: node.driver, name: 'k9vol' }); // validates (zod)
    t.truthy(view, `round ${round} (killed after ${delayMs} ms): the volume record is there`);
    if (survivor.child.exitCode !== null) t.fail(`round ${round}: the survivor exited ${survivor.child.exitCode}:\n${survivor.child.output.stderr.split('\n').slice(-12).join('\n')}`);
    t.is((await fetch(`${survivor.url}/readyz`)).status, 200, `round ${round}: the survivor stays ready`);
  }

  await waitFor('dead claims to be reaped', async () => {
    const view = await store.inspect({ driver: node.driver, name: 'k9vol' });
    return view?.holders.length === 1 && view.holders[0]?.task === 'survivor';
  }, 20_000, 200);
  t.true(await node.isMounted(join(node.root, 'k9vol')));
  t.is((await survivor.stop()).code, 0);
  t.false(await node.isMounted(join(node.root, 'k9vol')));
  const journal = node.journal().filter((l) => l.result === 'ok');
  t.is(journal.filter((l) => l.op === 'Mount' && l.changed === true).length, 1, 'mounted once');
  t.is(journal.filter((l) => l.op === 'Unmount' && l.changed === true).length, 1, 'unmounted once');
});
