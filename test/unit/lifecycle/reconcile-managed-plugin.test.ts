// `dvdi reconcile` reaches a managed (v2) plugin the way the sidecar does: both build their
// driver registry through wiring/node-services.ts (plugin directories, then the engine's
// managed plugins). Here the command runs in-process against a fake engine that lists one
// enabled managed plugin, whose socket is a test plugin server; a ledger entry no store record
// explains makes the sweep send that plugin an Unmount — found only through the engine.
import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerRuntime, ManagedPlugin } from '../../../src/docker/container-runtime.js';
import type { ProcessContext } from '../../../src/main.js';
import { reconcileCommand } from '../../../src/cli/reconcile-command.js';
import { runNodeCommand } from '../../../src/cli/node-command.js';
import { mountLedgerFiles } from '../../../src/reconcile/node-files.js';
import { EMBEDDED_STATE_DIR, type HostMounter } from '../../../src/wiring/node-services.js';
import { startMisbehavingPlugin } from '../../helpers/misbehaving-plugin.js';
import { systemClock, type Clock } from '../../../src/common/clock.js';

const ID = 'ab'.repeat(32);

function fakeEngine(plugins: ManagedPlugin[]): ContainerRuntime {
  return {
    inspectContainer: () => Promise.reject(new Error('not used')),
    containerEndEvents: () => Promise.reject(new Error('not used')),
    listPlugins: () => Promise.resolve(plugins),
    dockerRootDir: () => Promise.resolve('/var/lib/docker'),
  };
}

/** A mount root that passes preflight and has nothing bound (no root needed). */
function fakeHostMounter(root: string): HostMounter {
  return {
    preflight: async () => root,
    volumePath: async (r, name) => join(r, name),
    bind: async () => ({ created: true }) as never,
    unmountLazy: async () => ({ detached: 0, removedDir: false }),
    isMounted: async () => false,
    listBinds: async () => [],
    listProbes: async () => [],
    removeProbe: async () => undefined,
  };
}

test('dvdi reconcile sends the ledger Unmount to a managed plugin found through the engine', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-managed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  await mkdir(join(dir, 'run', ID), { recursive: true });
  await mkdir(root);
  const plugin = await startMisbehavingPlugin({ socketPath: join(dir, 'run', ID, 'ebs.sock'), mountRoot: join(dir, 'mnt') });
  t.teardown(() => plugin.close());

  // Store and ledger time steps on demand; waits (the driver client's time limits) are real.
  let offset = 0;
  const clock: Clock & { step(ms: number): void } = {
    now: () => Date.UTC(2030, 0, 1) + offset,
    monotonic: () => performance.now(),
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
    step: (ms) => void (offset += ms),
  };
  // A Mount this node performed that no store record explains (the store lost it).
  await mountLedgerFiles(join(root, EMBEDDED_STATE_DIR), clock).record({ driver: 'rexray/ebs', name: 'vol1', mountId: 'lost-id' });
  const out: string[] = [];
  const ctx: ProcessContext = {
    // The directory plugins hold nothing: only the engine knows rexray/ebs.
    env: { DVDI_MOUNT_ROOT: root, DVDI_PLUGIN_DIRS: join(dir, 'no-plugins'), DVDI_NODE_ID: 'node-a', DVDI_LOG_LEVEL: 'error', DVDI_LEASE_TTL_MS: '15000' },
    hostname: 'host',
    clock,
    stdout: async (text) => void out.push(text),
    stderr: (text) => void out.push(text),
    onShutdownSignal: () => undefined,
  };
  const wiring = {
    hostMounter: fakeHostMounter(root),
    runtime: fakeEngine([{ id: ID, name: 'rexray/ebs:latest', enabled: true, socket: 'ebs.sock', types: ['docker.volumedriver/1.0'], propagatedMount: '' }]),
    managedSocketDir: join(dir, 'run'),
  };
  clock.step(20_000);
  t.is(await runNodeCommand(reconcileCommand, [], ctx, wiring), 0, out.join(''));
  t.is(plugin.count('Unmount'), 0, 'the first sweep only starts the grace');
  clock.step(20_000);
  out.length = 0;
  t.is(await runNodeCommand(reconcileCommand, [], ctx, wiring), 0, out.join(''));
  t.is(plugin.count('Unmount'), 1);
  t.regex(plugin.requests.find((r) => r.method.endsWith('Unmount'))?.body ?? '', /"ID":"lost-id"/);
  const report = JSON.parse(out.join('')) as { ledgerUnmounts: Array<{ driver: string; stillMounted: boolean }> };
  t.deepEqual(report.ledgerUnmounts, [{ driver: 'rexray/ebs', name: 'vol1', mountId: 'lost-id', stillMounted: false }]);
});
