// A private `rclone serve docker` (rclone's own Docker volume plugin, a plugin nobody here wrote)
// for tests: its own socket directory, base dir, cache dir and empty config, a recorded PID, and a
// cleanup that unmounts the FUSE mounts it made. `startRcloneNode` adds a private rshared mount
// root and sidecars started as real `dvdi sidecar` processes against it, like node-rig does for
// the reference plugin.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { runDvdi, sidecarUrl, startDvdi, waitFor, waitReadyz, type Finished } from './cli.js';
import { makeSharedRoot, unmountBelow, type TempRoot } from './mount-root.js';

export interface RclonePlugin {
  /** Directory holding the socket: what DVDI_PLUGIN_DIRS names. */
  pluginDirs: string;
  /** The driver name (the socket's base name). */
  driver: string;
  socketPath: string;
  baseDir: string;
  cacheDir: string;
  /** PID of the running rclone process. */
  readonly pid: number;
  /** Stop rclone (SIGTERM: a clean stop, SIGKILL: a crash) and start it again with the same dirs. */
  restart(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** The rclone log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Unmount every FUSE mount at or below `dir` (fusermount3 -u, then umount -l as a fallback). */
async function unmountFuseBelow(dir: string): Promise<void> {
  const mounts = (await readMountInfo()).filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
  mounts.sort((a, b) => b.mountPoint.length - a.mountPoint.length);
  for (const m of mounts) {
    try {
      execFileSync('fusermount3', ['-u', '-z', m.mountPoint], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' });
      } catch {
        // gone already (through propagation, or rclone unmounted it on exit)
      }
    }
  }
}

/** Start `rclone serve docker` in `dir` (subdirectories plugins/, base/, cache/; config rclone.conf, empty). */
export async function startRclonePlugin(dir: string, driver = 'rclone', socketDir = join(dir, 'plugins')): Promise<RclonePlugin> {
  const pluginDirs = socketDir;
  const baseDir = join(dir, 'base');
  const cacheDir = join(dir, 'cache');
  const config = join(dir, 'rclone.conf');
  await Promise.all([mkdir(pluginDirs, { recursive: true }), mkdir(join(dir, 'plugins'), { recursive: true }), mkdir(baseDir, { recursive: true }), mkdir(cacheDir, { recursive: true })]);
  await writeFile(config, '');
  const socketPath = join(pluginDirs, `${driver}.sock`);
  let output = '';
  let child: ChildProcess;
  let exited: Promise<void>;
  const start = async (): Promise<void> => {
    await rm(socketPath, { force: true });
    child = spawn('rclone', ['serve', 'docker', '--socket-addr', socketPath, '--base-dir', baseDir, '--cache-dir', cacheDir, '--config', config, '-v'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const current = child;
    exited = new Promise((resolve) => current.once('exit', () => resolve()));
    await waitFor('the rclone socket', () => {
      if (current.exitCode !== null) throw new Error(`rclone exited (${current.exitCode}): ${output}`);
      return existsSync(socketPath);
    }, 20_000);
  };
  const kill = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, signal);
      const stopped = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000))]);
      if (!stopped) process.kill(child.pid!, 'SIGKILL');
      await exited;
    }
  };
  await start();
  return {
    pluginDirs,
    driver,
    socketPath,
    baseDir,
    cacheDir,
    get pid() {
      return child.pid!;
    },
    async restart(signal = 'SIGTERM') {
      await kill(signal);
      await start();
    },
    log: () => output,
    async stop() {
      await kill('SIGTERM');
      await unmountFuseBelow(dir);
    },
  };
}

/**
 * An HTTP proxy in front of a plugin's socket, so a test can decide when a request reaches the
 * real plugin: `hold` never forwards a method (the caller's Mount never reaches rclone, as when
 * its sidecar is killed first), `delay` forwards it after N ms whether or not the caller is
 * still waiting (a slow Mount that lands after the caller gave up). Everything else passes.
 */
export interface PluginProxy {
  set(method: string, mode: { hold: true } | { delayMs: number } | undefined): void;
  /** Requests per method that arrived at the proxy. */
  count(method: string): number;
  /** Requests per method forwarded to the plugin (and when). */
  forwarded(method: string): number;
  close(): Promise<void>;
}

export async function startPluginProxy(listenPath: string, targetPath: string): Promise<PluginProxy> {
  const modes = new Map<string, { hold: true } | { delayMs: number }>();
  const arrived = new Map<string, number>();
  const sent = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
  const held: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = (req.url ?? '').replace(/^\/(VolumeDriver\.)?/, '');
      bump(arrived, method);
      const mode = modes.get(method);
      if (mode !== undefined && 'hold' in mode) {
        held.push(req);
        return;
      }
      const forward = (): void => {
        bump(sent, method);
        const upstream = request({ socketPath: targetPath, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            if (res.destroyed) return;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(body));
          });
        });
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (mode === undefined) forward();
      else setTimeout(forward, mode.delayMs);
    });
  });
  await rm(listenPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPath, () => resolve());
  });
  return {
    set(method, mode) {
      if (mode === undefined) modes.delete(method);
      else modes.set(method, mode);
    },
    count: (method) => arrived.get(method) ?? 0,
    forwarded: (method) => sent.get(method) ?? 0,
    async close() {
      for (const req of held) req.socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(listenPath, { force: true });
    },
  };
}

export interface RcloneSidecar {
  child: ReturnType<typeof startDvdi>;
  url: string;
  /** Resolves once /readyz answers `status` (default 200). */
  waitReadyz(status?: number, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<Finished>;
}

export interface RcloneNode {
  temp: TempRoot;
  root: string;
  rclone: RclonePlugin;
  /** Present with `proxy: true`: the sidecars reach rclone through it. */
  proxy: PluginProxy | undefined;
  /** Where sidecars discover the plugin (the proxy's directory with `proxy: true`). */
  pluginDirs: string;
  /** A data directory for a `remote=:local:DIR` volume (created). */
  dataDir(name: string): Promise<string>;
  /** Env every sidecar, dvdcli and `dvdi reconcile` of this node gets. */
  env: Record<string, string>;
  sidecar(env: Record<string, string>): Promise<RcloneSidecar>;
  reconcile(env?: Record<string, string>): Promise<{ code: number | null; report: { ledgerUnmounts: Array<{ name: string; mountId: string; stillMounted: boolean }>; errors: unknown[]; unmounted: Array<{ name: string }> } | undefined; stdout: string; stderr: string }>;
  /** The node's mount ledger entries (file names under ROOT/.dvdi/mounts). */
  ledger(): string[];
  isMounted(path: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface RcloneNodeOptions {
  env?: Record<string, string>;
  /** Put a PluginProxy between the sidecars and rclone. */
  proxy?: boolean;
}

export async function startRcloneNode(options: RcloneNodeOptions = {}): Promise<RcloneNode> {
  const temp = await makeSharedRoot('rclone');
  const rcDir = join(temp.dir, 'rc');
  const rclone = await startRclonePlugin(rcDir, 'rclone', options.proxy ? join(rcDir, 'real') : undefined);
  const pluginDirs = join(rcDir, 'plugins');
  const proxy = options.proxy ? await startPluginProxy(join(pluginDirs, `${rclone.driver}.sock`), rclone.socketPath) : undefined;
  const children: Array<ReturnType<typeof startDvdi>> = [];
  const env: Record<string, string> = {
    DVDI_MOUNT_ROOT: temp.root,
    DVDI_PLUGIN_DIRS: pluginDirs,
    DVDI_VOLUME_DRIVER: rclone.driver,
    DVDI_HTTP_ADDR: '127.0.0.1:0',
    DVDI_NODE_ID: 'node-rc',
    DVDI_LOG_LEVEL: 'debug',
    ...options.env,
  };
  return {
    temp,
    root: temp.root,
    rclone,
    proxy,
    pluginDirs,
    env,
    async dataDir(name) {
      const path = join(temp.dir, 'data', name);
      await mkdir(path, { recursive: true });
      return path;
    },
    async sidecar(extra) {
      const child = startDvdi(['sidecar'], { ...env, ...extra });
      children.push(child);
      const url = await sidecarUrl(child);
      return {
        child,
        url,
        async waitReadyz(status = 200, timeoutMs = 60_000) {
          await waitReadyz(child, url, status, timeoutMs, 100);
        },
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return child.finished;
        },
      };
    },
    async reconcile(extra = {}) {
      const result = await runDvdi(['reconcile'], { ...env, ...extra });
      let report;
      try {
        report = JSON.parse(result.stdout) as NonNullable<Awaited<ReturnType<RcloneNode['reconcile']>>['report']>;
      } catch {
        report = undefined;
      }
      return { code: result.code, report, stdout: result.stdout, stderr: result.stderr };
    },
    ledger() {
      const dir = join(temp.root, '.dvdi', 'mounts');
      return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json') && !f.includes('.tmp-')) : [];
    },
    async isMounted(path) {
      return (await readMountInfo()).some((m) => m.mountPoint === path);
    },
    async stop() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(children.map((c) => c.finished));
      await unmountBelow(temp.root);
      await proxy?.close();
      await rclone.stop();
      await temp.cleanup();
    },
  };
}

/** An rclone node factory for one test file: every node is stopped in an `after.always` hook. */
export function rcloneNodesFor(test: TestFn): (options?: RcloneNodeOptions) => Promise<RcloneNode> {
  const nodes: RcloneNode[] = [];
  test.after.always(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });
  return async (options) => {
    const node = await startRcloneNode(options);
    nodes.push(node);
    return node;
  };
}
