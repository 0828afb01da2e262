// Recovery against rclone's Docker volume plugin, whose habits differ from the reference
// plugin's: Unmount of an ID it does not hold is refused (`volume is not mounted`), Path always
// answers, a restart drops every mount and ID (the bind left behind answers ENOTCONN). Each
// scenario ends with `dvdi reconcile` exiting 0 and a new sidecar for the volume ready.
// A proxy in front of rclone's socket decides when a Mount reaches it (held: the performer is
// killed before its Mount arrives; delayed: the Mount lands after the sidecar gave up).
import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../helpers/cli.js';
import { rcloneNodesFor, type RcloneNode } from '../../helpers/rclone-plugin.js';

const node = rcloneNodesFor(test);
const TTL = 1500;
const FAST = { DVDI_LEASE_TTL_MS: String(TTL), DVDI_RECONCILE_CRON: '*/2 * * * * *' };

async function metric(url: string, line: RegExp): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').some((l) => line.test(l));
}

/** Run `dvdi reconcile` until a run finds nothing left to do; every run must exit 0. */
async function converge(t: ExecutionContext, n: RcloneNode, runs = 8): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const sweep = await n.reconcile(FAST);
    t.is(sweep.code, 0, `reconcile run ${i + 1}: ${sweep.stdout}\n${sweep.stderr}`);
    t.deepEqual(sweep.report?.errors, [], sweep.stdout);
    if (n.ledger().length === 0 && sweep.report?.ledgerUnmounts.length === 0 && sweep.report.unmounted.length === 0) return;
    await new Promise((r) => setTimeout(r, TTL + 200));
  }
  t.fail(`dvdi reconcile did not converge in ${runs} runs; ledger: ${n.ledger().join(', ')}`);
}

async function readySidecarWritesThrough(t: ExecutionContext, n: RcloneNode, volume: string, data: string, task: string): Promise<void> {
  const next = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: volume, DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: task });
  await next.waitReadyz();
  await writeFile(join(n.root, volume, `${task}.txt`), task);
  t.is(await readFile(join(data, `${task}.txt`), 'utf8'), task);
  const exit = await next.stop();
  t.is(exit.code, 0, exit.stderr);
  t.deepEqual(n.ledger(), [], 'nothing left in the ledger');
}

test('rclone restarted under a running sidecar: 503 within 20 s, SIGTERM exits 0, reconcile converges, a new sidecar is ready', async (t) => {
  const n = await node();
  const data = await n.dataDir('restart');
  const sidecar = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'rcrestart', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'restart-1' });
  await sidecar.waitReadyz();
  await waitFor('dvdi_volume_healthy 1', () => metric(sidecar.url, /^dvdi_volume_healthy\{volume="rcrestart",driver="rclone"\} 1$/));

  const restartedAt = Date.now();
  await n.rclone.restart('SIGTERM');
  // The acceptance bound of the issue: the health check runs every 5 s, stat is bounded at 2 s.
  await sidecar.waitReadyz(503, 20_000);
  t.log(`/readyz 503 ${Date.now() - restartedAt} ms after the plugin restart began`);
  const readyz = (await (await fetch(`${sidecar.url}/readyz`)).json()) as { ready: boolean; volumes: Array<{ name: string; state: string; reason?: string }> };
  t.false(readyz.ready);
  t.is(readyz.volumes[0]?.state, 'dead');
  t.regex(readyz.volumes[0]?.reason ?? '', /ENOTCONN|gone from the mount table/);
  t.true(await metric(sidecar.url, /^dvdi_volume_healthy\{volume="rcrestart",driver="rclone"\} 0$/));
  t.true(await metric(sidecar.url, /^dvdi_ready 0$/));
  t.is(sidecar.child.output.stderr.split('\n').filter((l) => l.includes('volume is dead: not ready')).length, 1, 'logged once');

  const exit = await sidecar.stop();
  t.is(exit.code, 0, exit.stderr);
  t.regex(exit.stderr, /the plugin refused Unmount, but nothing is mounted with that ID; treated as done/);
  t.false(await n.isMounted(join(n.root, 'rcrestart')), 'the dead bind is gone');
  await converge(t, n);
  await readySidecarWritesThrough(t, n, 'rcrestart', data, 'restart-2');
});

test('rclone restarted, then the sidecar SIGKILLed: dvdi reconcile takes over the refused unmount, converges, and a new sidecar is ready', async (t) => {
  const n = await node();
  const data = await n.dataDir('restart-kill');
  const sidecar = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'rcrestartkill', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'rk-1' });
  await sidecar.waitReadyz();
  await n.rclone.restart('SIGTERM');
  await sidecar.waitReadyz(503, 20_000);
  sidecar.child.kill('SIGKILL');
  await sidecar.child.finished;
  await new Promise((r) => setTimeout(r, TTL + 200)); // the dead holder's lease runs out
  const first = await n.reconcile(FAST);
  t.is(first.code, 0, `${first.stdout}\n${first.stderr}`);
  t.deepEqual(first.report?.unmounted.map((v) => v.name), ['rcrestartkill'], 'the sweep took over the unmount');
  t.regex(first.stderr + first.stdout, /takeover of an orphaned unmount: the plugin refused Unmount, but nothing is mounted with that ID/);
  await converge(t, n);
  await readySidecarWritesThrough(t, n, 'rcrestartkill', data, 'rk-2');
});

test('a performer killed before its Mount reached rclone: the next sidecar takes over and is ready; no ledger entry is left', async (t) => {
  const n = await node({ proxy: true });
  const proxy = n.proxy!;
  const data = await n.dataDir('killed');
  proxy.set('Mount', { hold: true });
  const doomed = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'rckilled', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'killed-1' });
  await waitFor('the Mount to reach the proxy', () => proxy.count('Mount') === 1);
  doomed.child.kill('SIGKILL');
  await doomed.child.finished;
  t.is(n.ledger().length, 1, 'the dead performer recorded its Mount before sending it');
  t.is(proxy.forwarded('Mount'), 0, 'rclone never saw that Mount');
  proxy.set('Mount', undefined);

  const next = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'rckilled', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'killed-2' });
  await next.waitReadyz();
  t.true(proxy.forwarded('Unmount') >= 1, "the dead performer's ID was unmounted first (rclone refused it)");
  await writeFile(join(n.root, 'rckilled', 'after.txt'), 'after takeover');
  t.is(await readFile(join(data, 'after.txt'), 'utf8'), 'after takeover');
  const exit = await next.stop();
  t.is(exit.code, 0, exit.stderr);
  // The dead performer's entry stays while the volume is in use (its Mount might still land);
  // once nobody uses it, the sweep sends that Unmount again, rclone refuses it, the facts show
  // nothing mounted with that ID, and the entry goes.
  await converge(t, n);
  t.deepEqual(n.ledger(), [], 'no ledger entry is left');
  t.false(await n.isMounted(join(n.rclone.baseDir, 'rckilled')));
});

test('a Mount slower than DVDI_MOUNT_TIMEOUT_MS lands after the undo: the reconciler unmounts it, forgets it and converges', async (t) => {
  const n = await node({ proxy: true });
  const proxy = n.proxy!;
  const data = await n.dataDir('slow');
  proxy.set('Mount', { delayMs: 4000 });
  const slow = await n.sidecar({ ...FAST, DVDI_VOLUME_NAME: 'rcslow', DVDI_VOLUME_OPTS: `remote=:local:${data}`, DVDI_TASK_ID: 'slow-1', DVDI_MOUNT_TIMEOUT_MS: '1500' });
  const result = await slow.child.finished;
  t.is(result.code, 3, 'the sidecar gave up on the slow Mount');
  t.regex(result.stderr, /undo of an unfinished Mount: the plugin refused Unmount, but nothing is mounted with that ID/, 'the undo overtook the Mount and was refused');
  const fuse = join(n.rclone.baseDir, 'rcslow');
  await waitFor('the late Mount to land in rclone', () => n.isMounted(fuse), 15_000);
  proxy.set('Mount', undefined);
  t.is(n.ledger().length, 1, 'the ledger still has the late Mount');

  await converge(t, n);
  t.false(await n.isMounted(fuse), "rclone's late FUSE mount is unmounted");
  const last = await n.reconcile(FAST);
  t.is(last.code, 0);
  t.deepEqual(last.report?.ledgerUnmounts, [], 'nothing logged again on later sweeps');
  await readySidecarWritesThrough(t, n, 'rcslow', data, 'slow-2');
});
