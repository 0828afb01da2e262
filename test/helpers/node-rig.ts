// A simulated node for integration tests: a private rshared mount root, the reference plugin
// (real process, real unix socket, journal), and sidecars started as real `dvdi sidecar`
// processes against them. Teardown stops every process and unmounts everything below.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeSharedRoot, unmountBelow, type TempRoot } from './mount-root.js';
import { runDvdi, sidecarUrl, startDvdi, waitFor, waitReadyz, type Finished } from './cli.js';
import { readMountInfo } from '../../src/common/mountinfo.js';
import type { JournalEntry } from '../../src/plugin/mount-journal.js';
import type { TestFn } from 'ava';

export type DvdiChild = ReturnType<typeof startDvdi>;

/** One line of the plugin's journal (`dvdi plugin --journal`). */
export type JournalLine = JournalEntry;

export interface NodeRig {
  temp: TempRoot;
  root: string;
  pluginDirs: string;
  driver: string;
  journalPath: string;
  plugin: DvdiChild;
  /** Env every sidecar and `dvdi reconcile` of this node gets. */
  env: Record<string, string>;
  /** Replace the plugin's injected faults (needs `faults: true`): {"Mount": {"delayMs": 3000}}. */
  setFaults(faults: Record<string, { delayMs?: number; error?: string; hang?: boolean }>): Promise<void>;
  /** Run `dvdi reconcile` for this node; returns its parsed report and exit code. */
  reconcile(env?: Record<string, string>): Promise<{ code: number | null; report: { reaped: unknown[]; unmounted: Array<{ name: string }>; orphans: string[]; pendingOrphans: string[]; probes: string[]; ledgerUnmounts: Array<{ name: string; mountId: string; stillMounted: boolean }>; errors: unknown[]; skipped: boolean } | undefined; stderr: string }>;
  journal(): JournalLine[];
  /** Stop the plugin process (SIGKILL = a crash, SIGTERM = a clean stop) and start it again with
   * the same arguments (same root, socket, journal, faults file, pool); resolves once it serves. */
  restartPlugin(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Start a sidecar with the rig's defaults plus `env`; resolves once its HTTP URL is known. */
  sidecar(env: Record<string, string>): Promise<Sidecar>;
  isMounted(path: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface Sidecar {
  child: DvdiChild;
  node: string;
  url: string;
  waitReady(timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<Finished>;
}


export interface NodeRigOptions {
  backend?: 'dir' | 'loop';
  /** DVDI_NODE_ID of the simulated node (default node-a); also the plugin's --node. */
  node?: string;
  /** Start the plugin with --faults (see NodeRig.setFaults). */
  faults?: boolean;
  /** A shared image pool directory (loop backend): block-storage semantics across nodes. */
  pool?: string;
  /** Extra env for every sidecar of this node (e.g. DVDI_REDIS_URL). */
  env?: Record<string, string>;
  /** Use this driver name instead of a random one (nodes sharing a pool need the same name). */
  driver?: string;
  /** The plugin's --habits (rclone: unknown-ID Unmount refused, Path always answers). */
  habits?: 'reference' | 'rclone';
  /** The mount root's directory name (default `root`). */
  rootName?: string;
}

export async function startNodeRig(options: NodeRigOptions = {}): Promise<NodeRig> {
  const temp = await makeSharedRoot('rig', options.rootName);
  const pluginDirs = join(temp.dir, 'plugins');
  await mkdir(pluginDirs);
  const driver = options.driver ?? `rig${randomBytes(3).toString('hex')}`;
  const journalPath = join(temp.dir, 'journal.jsonl');
  const pluginArgs = [
    'plugin', '--name', driver, '--backend', options.backend ?? 'dir', '--root', join(temp.dir, 'plugin'),
    '--socket', join(pluginDirs, `${driver}.sock`), '--journal', journalPath, ...(options.node ? ['--node', options.node] : []),
    ...(options.faults ? ['--faults', join(temp.dir, 'faults.json')] : []),
    ...(options.pool ? ['--pool', options.pool] : []),
    ...(options.habits ? ['--habits', options.habits] : []),
  ];
  let plugin = startDvdi(pluginArgs);
  const waitForPlugin = async (child: DvdiChild): Promise<void> =>
    waitFor('the plugin socket', () => {
      if (child.exitCode !== null) throw new Error(`plugin exited: ${child.output.stderr}`);
      return existsSync(join(pluginDirs, `${driver}.sock`));
    });
  await waitForPlugin(plugin);
  const sidecars: DvdiChild[] = [];
  const env: Record<string, string> = {
    DVDI_MOUNT_ROOT: temp.root,
    DVDI_PLUGIN_DIRS: pluginDirs,
    DVDI_VOLUME_DRIVER: driver,
    DVDI_HTTP_ADDR: '127.0.0.1:0',
    DVDI_NODE_ID: options.node ?? 'node-a',
    DVDI_LOG_LEVEL: 'debug',
    ...options.env,
  };
  const rig: NodeRig = {
    env,
    async setFaults(faults) {
      await writeFile(join(temp.dir, 'faults.json'), JSON.stringify(faults));
    },
    async reconcile(extra = {}) {
      const result = await runDvdi(['reconcile'], { ...env, ...extra });
      let report;
      try {
        report = JSON.parse(result.stdout) as NonNullable<Awaited<ReturnType<NodeRig['reconcile']>>['report']>;
      } catch {
        report = undefined;
      }
      return { code: result.code, report, stderr: result.stderr };
    },
    temp,
    root: temp.root,
    pluginDirs,
    driver,
    journalPath,
    get plugin() {
      return plugin;
    },
    async restartPlugin(signal = 'SIGKILL') {
      if (plugin.exitCode === null && plugin.signalCode === null) {
        plugin.kill(signal);
        const stopped = await Promise.race([plugin.finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000))]);
        if (!stopped) plugin.kill('SIGKILL');
        await plugin.finished;
      }
      // A crashed plugin leaves its socket file: remove it so that waiting for the socket
      // waits for the new process.
      await rm(join(pluginDirs, `${driver}.sock`), { force: true });
      plugin = startDvdi(pluginArgs);
      await waitForPlugin(plugin);
    },
    journal: () =>
      existsSync(journalPath)
        ? readFileSync(journalPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalLine)
        : [],
    async sidecar(extraEnv) {
      const child = startDvdi(['sidecar'], { ...env, ...extraEnv });
      sidecars.push(child);
      const url = await sidecarUrl(child);
      return {
        child,
        url,
        async waitReady(timeoutMs = 60_000) {
          await waitReadyz(child, url, 200, timeoutMs);
        },
        node: options.node ?? 'node-a',
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null) child.kill(signal);
          return child.finished;
        },
      };
    },
    async isMounted(path) {
      return (await readMountInfo()).some((m) => m.mountPoint === path);
    },
    async stop() {
      for (const child of sidecars) if (child.exitCode === null) child.kill('SIGKILL');
      await Promise.all(sidecars.map((c) => c.finished));
      if (plugin.exitCode === null) plugin.kill('SIGTERM');
      await plugin.finished;
      await unmountBelow(temp.dir);
      await temp.cleanup();
    },
  };
  return rig;
}

/**
 * A rig factory for one test file: every rig it starts is stopped (processes killed, mounts
 * undone) in an `after.always` hook, registered now, so call it before other teardown hooks.
 */
export function rigsFor(test: TestFn): (options?: NodeRigOptions) => Promise<NodeRig> {
  const rigs: NodeRig[] = [];
  test.after.always(async () => {
    await Promise.all(rigs.map((r) => r.stop()));
  });
  return async (options) => {
    const r = await startNodeRig(options);
    rigs.push(r);
    return r;
  };
}
