// Every sidecar of a node runs the reconciler on the same cron instants, and the node's lock
// waits up to 250 ms for a running sweep: without the sweep stamp, the sidecars that waited swept
// again one after another, so a node of N sidecars swept several times an instant. Now one sweep
// runs per instant and the others skip it (dvdi_reconcile_runs_total{outcome="skipped"}), while
// `dvdi reconcile` still sweeps whenever it is asked. Real sidecars, plugin, mounts, embedded
// store.
import test from 'ava';
import { rigsFor, type Sidecar } from '../../helpers/node-rig.js';

const rig = rigsFor(test);
const SIDECARS = 8;
const PERIOD_S = 2;

async function runs(sidecars: Sidecar[]): Promise<{ ok: number; skipped: number; error: number }> {
  const total = { ok: 0, skipped: 0, error: 0 };
  for (const sidecar of sidecars) {
    const text = await (await fetch(`${sidecar.url}/metrics`)).text();
    for (const m of text.matchAll(/^dvdi_reconcile_runs_total\{outcome="(ok|skipped|error)"\} (\d+)$/gm)) total[m[1] as keyof typeof total] += Number(m[2]);
  }
  return total;
}

test(`${SIDECARS} sidecars of one node sweep once per cron instant, not once per sidecar`, async (t) => {
  const node = await rig();
  const sidecars: Sidecar[] = [];
  for (let i = 0; i < SIDECARS; i++) sidecars.push(await node.sidecar({ DVDI_VOLUME_NAME: `crowd${i}`, DVDI_TASK_ID: `crowd-${i}`, DVDI_RECONCILE_CRON: `*/${PERIOD_S} * * * * *` }));
  for (const sidecar of sidecars) await sidecar.waitReady();
  // Let every schedule start (each starts once its sidecar is ready), then count one window.
  await new Promise((r) => setTimeout(r, 2 * PERIOD_S * 1000));
  const before = await runs(sidecars);
  const windowMs = 12_000;
  const started = Date.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const after = await runs(sidecars);
  const elapsed = Date.now() - started + 2000; // the two reads of the counters take time too
  const ok = after.ok - before.ok;
  const skipped = after.skipped - before.skipped;
  const instants = Math.ceil(elapsed / (PERIOD_S * 1000)) + 1;
  t.log(`${ok} sweeps, ${skipped} skipped, ${after.error - before.error} failed, over at most ${instants} instants`);
  t.is(after.error - before.error, 0);
  t.true(ok >= 1, 'the node was swept');
  t.true(ok <= instants, `at most one sweep an instant: ${ok} sweeps over ${instants} instants`);
  t.true(skipped >= (SIDECARS - 1) * (ok - 1), `the other sidecars skipped: ${skipped}`);

  // An operator's `dvdi reconcile` is no scheduled run: it sweeps even right after one.
  const asked = await node.reconcile();
  t.is(asked.code, 0);
  t.false(asked.report?.skipped);
  for (const sidecar of sidecars) t.is((await sidecar.stop()).code, 0);
});
