// A private Docker engine for e2e tests: one `dockerd` per test file, on its own
// socket and exec-root, never touching a system daemon. Its data root is a cache shared by all
// runs (`<repo>/.test-tmp/docker-data`) so imported images survive between runs; a data root
// admits one daemon at a time, so `startDockerd` first takes an exclusive flock(2) on
// `<repo>/.test-tmp/dockerd.lock` and waits for it. The lock is held by a tiny `flock` child
// whose stdin is a pipe from this process: when this process ends for any reason, the pipe
// closes and the lock is released, so a crashed test never leaves a stale lock. A daemon that
// such a crash left running is stopped by the next `startDockerd` (see `reapOrphans`): only by
// the PIDs recorded when it started, never by matching command lines (other people's dockerd
// and containerd may be running on the same machine).
//
// Test files that use Docker therefore run one after another; within a file, use `test.serial`.
// Legacy plugin sockets live in the global `/run/docker/plugins`: name test plugins
// `${E2E_PLUGIN_PREFIX}<something random>` and remove their sockets at the end. A volume whose
// plugin is gone costs every later daemon start ~15 s (dockerd retries the dead plugin while it
// restores volumes), and dockerd 20.10 cannot even force-remove it. So before starting,
// `startDockerd` removes dead test sockets and, for each test plugin named in the volume
// metadata, serves a stub plugin that says "no such volume" for the daemon's lifetime: the
// restore then purges them, and later `volume ls` calls get an instant empty List from it.
//
// A daemon that cannot start is a failure with the reason and the tail of its log, not a skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { makeTempDir, unmountBelow } from './mount-root.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_TMP = join(REPO_ROOT, '.test-tmp');
/**
 * Where the data root, its lock and the daemon's record live: TEST_TMP, or DVDI_TEST_DOCKER_HOME
 * for a test of this helper itself (a private data root and lock, so that its crashed daemon is
 * reaped by its own next start and not by another test file waiting for the shared lock).
 */
export const DOCKER_HOME = process.env.DVDI_TEST_DOCKER_HOME ?? TEST_TMP;
export const DOCKER_DATA_ROOT = join(DOCKER_HOME, 'docker-data');
const LOCK_PATH = join(DOCKER_HOME, 'dockerd.lock');
/** Where the daemon that holds the lock records itself, for reaping after a crash. */
export const STATE_PATH = join(DOCKER_HOME, 'dockerd.state.json');
export const PLUGIN_SOCKET_DIR = '/run/docker/plugins';
/** Name prefix of every plugin a test starts; the sweeps below rely on it. */
export const E2E_PLUGIN_PREFIX = 'dvdi-e2e-';

export type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stderr.write(`[dockerd-helper] ${line}\n`);

export interface DockerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  /** false: return a failed result instead of throwing. Default true. */
  reject?: boolean;
  timeoutMs?: number;
}

export class DockerCommandError extends Error {
  readonly result: DockerResult;
  constructor(args: readonly string[], result: DockerResult) {
    super(`docker ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'DockerCommandError';
    this.result = result;
  }
}

/** Runs the docker CLI against one engine. */
export type DockerCli = (args: readonly string[], options?: DockerOptions) => Promise<DockerResult>;

export interface PrivateDockerd {
  /** Path of the engine's unix socket. */
  readonly socket: string;
  /** `unix://<socket>`, for `DOCKER_HOST` or dockerode. */
  readonly dockerHost: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pid: number;
  /** `docker -H <dockerHost> ...args`; throws DockerCommandError on a non-zero exit unless reject:false. */
  readonly docker: DockerCli;
  /** Stops the daemon (SIGTERM, then SIGKILL), unmounts what it left, releases the lock. Idempotent. */
  stop(): Promise<void>;
}

export interface StartDockerdOptions {
  log?: Log;
  /** How long to wait for `/_ping` after spawning. Default 90 s: a daemon restoring volumes of a
   * plugin that is gone retries the plugin lookup for up to ~30 s before it serves. */
  startTimeoutMs?: number;
  /** How long to wait for another test file's daemon to finish. Default 10 min. */
  lockTimeoutMs?: number;
}

export function makeDockerCli(dockerHost: string): DockerCli {
  return async (args, options = {}) => {
    const full = ['-H', dockerHost, ...args];
    const r = await execa('docker', full, {
      reject: false,
      timeout: options.timeoutMs ?? 120_000,
      stdin: 'ignore',
      env: { LC_ALL: 'C', DOCKER_CLI_HINTS: 'false' },
    });
    if (r.timedOut) throw new Error(`docker ${args.join(' ')}: timed out after ${options.timeoutMs ?? 120_000} ms`);
    const result: DockerResult = {
      exitCode: typeof r.exitCode === 'number' ? r.exitCode : -1,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
    };
    if (result.exitCode !== 0 && options.reject !== false) throw new DockerCommandError(args, result);
    return result;
  };
}

async function which(file: string): Promise<boolean> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', file], { reject: false });
  return r.exitCode === 0;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

async function terminate(pid: number, log: Log, what: string): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitForExit(pid, 30_000)) return;
  log(`${what} (pid ${pid}) did not stop within 30 s of SIGTERM: SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitForExit(pid, 5_000);
}

/** An exclusive flock held by a child process that lives exactly as long as our stdin pipe. */
async function acquireLock(log: Log, timeoutMs: number): Promise<{ release(): Promise<void> }> {
  await mkdir(DOCKER_HOME, { recursive: true });
  closeSync(openSync(LOCK_PATH, 'a'));
  const holder = spawn('flock', ['--exclusive', '--timeout', String(Math.ceil(timeoutMs / 1000)), LOCK_PATH, 'sh', '-c', 'echo locked; read _ignored; exit 0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = Date.now();
  const progress = setInterval(() => log(`waiting for ${LOCK_PATH} (another test file's dockerd) for ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
  try {
    await new Promise<void>((resolveLock, rejectLock) => {
      let out = '';
      holder.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('locked')) resolveLock();
      });
      holder.once('error', rejectLock);
      holder.once('exit', (code) => rejectLock(new Error(`could not lock ${LOCK_PATH} within ${timeoutMs} ms (flock exit ${code}): ${stderr.trim()}`)));
    });
  } finally {
    clearInterval(progress);
  }
  return {
    async release() {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const exited = once(holder, 'exit');
      holder.stdin.end();
      await exited;
    },
  };
}

/** A process as we recorded it: its PID and its start time, so that a reused PID is never hit. */
interface RecordedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): unique per PID lifetime. */
  startTime: string;
}

/** What STATE_PATH holds while a daemon of ours runs: everything the reaper may kill. */
interface DaemonState {
  dockerd?: RecordedProcess;
  containerd?: RecordedProcess;
  execRoot?: string;
  /** The daemon's own temp dir (socket, log, exec-root), removed with it. */
  dir?: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function record(pid: number): RecordedProcess | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** Still the very process we recorded (same PID, same start time)? */
function isSame(p: RecordedProcess | undefined): p is RecordedProcess {
  return p !== undefined && Number.isInteger(p.pid) && p.pid > 1 && startTimeOf(p.pid) === p.startTime;
}

async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The containerd that our dockerd supervises: dockerd writes its PID to
 * `<exec-root>/containerd/containerd.pid`; accepted only if it is dockerd's own child.
 */
async function recordContainerd(dockerdPid: number, execRoot: string): Promise<RecordedProcess | undefined> {
  const pid = await readPidFile(join(execRoot, 'containerd', 'containerd.pid'));
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid === dockerdPid ? record(pid) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The containerd shims of containers started by our daemon: each shim writes its PID to
 * `shim.pid` in its bundle directory under our exec-root and runs with that directory as its
 * working directory, which is checked before a signal is sent.
 */
async function shimsUnder(execRoot: string): Promise<number[]> {
  const tasks = join(execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task');
  const pids: number[] = [];
  for (const ns of await readdir(tasks).catch(() => [] as string[])) {
    for (const id of await readdir(join(tasks, ns)).catch(() => [] as string[])) {
      const bundle = join(tasks, ns, id);
      const pid = await readPidFile(join(bundle, 'shim.pid'));
      if (pid === undefined) continue;
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
      if (cwd === bundle) pids.push(pid);
    }
  }
  return pids;
}

/**
 * Stop the daemon (and its containerd and shims) that a crashed test run left on our data root.
 * Only processes recorded in STATE_PATH by PID and start time, or named by the pid files our
 * own daemon's containerd wrote under our exec-root, are signalled: nothing is found by name.
 */
async function reapOrphans(log: Log): Promise<void> {
  let previous: DaemonState = {};
  try {
    previous = JSON.parse(await readFile(STATE_PATH, 'utf8')) as DaemonState;
  } catch {
    // no previous daemon recorded
  }
  const shims = previous.execRoot ? await shimsUnder(previous.execRoot) : [];
  // dockerd first: it stops its own containerd and shims when it can.
  for (const [what, p] of [['dockerd', previous.dockerd], ['containerd', previous.containerd]] as const) {
    if (!isSame(p)) continue;
    log(`stopping the ${what} (pid ${p.pid}) recorded by an earlier run`);
    await terminate(p.pid, log, `leftover ${what}`);
  }
  for (const pid of shims) {
    if (!isAlive(pid)) continue;
    log(`stopping a leftover containerd shim of our exec-root (pid ${pid})`);
    await terminate(pid, log, 'leftover containerd shim');
  }
  for (const path of [previous.execRoot, previous.dir]) {
    if (path === undefined) continue;
    await unmountBelow(path);
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
  await unmountBelow(DOCKER_DATA_ROOT);
  await rm(STATE_PATH, { force: true });
}

function listening(socket: string): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const conn = createConnection(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolveConnect(true);
    });
    conn.once('error', () => resolveConnect(false));
  });
}

/** Test plugin sockets nobody serves any more (a crashed run): dockerd would retry them. */
async function removeDeadPluginSockets(log: Log): Promise<void> {
  const entries = await readdir(PLUGIN_SOCKET_DIR).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(E2E_PLUGIN_PREFIX) || !entry.endsWith('.sock')) continue;
    const path = join(PLUGIN_SOCKET_DIR, entry);
    if (await listening(path)) continue;
    log(`removing dead test plugin socket ${path}`);
    await rm(path, { force: true });
  }
}

/**
 * Test plugins that still own volumes in the data root's metadata (a crashed run). The file is
 * bbolt; its values are JSON `{"Name":…,"Driver":…}`, found here by a byte scan. A name from a
 * freed page costs only a stub that is never asked anything.
 */
async function leftoverTestDrivers(): Promise<string[]> {
  let bytes: string;
  try {
    bytes = (await readFile(join(DOCKER_DATA_ROOT, 'volumes', 'metadata.db'))).toString('latin1');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const m of bytes.matchAll(/"Driver":"([A-Za-z0-9_.-]+)"/g)) {
    if (m[1]!.startsWith(E2E_PLUGIN_PREFIX)) names.add(m[1]!);
  }
  return [...names];
}

/** A volume plugin that knows no volumes: dockerd's restore purges what such a plugin lacks. */
async function serveForgetfulPlugin(socket: string): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    const replies: Record<string, unknown> = {
      '/Plugin.Activate': { Implements: ['VolumeDriver'] },
      '/VolumeDriver.List': { Volumes: [] },
      '/VolumeDriver.Capabilities': { Capabilities: { Scope: 'local' } },
      '/VolumeDriver.Remove': {},
      '/VolumeDriver.Unmount': {},
    };
    const reply = replies[req.url ?? ''];
    res.writeHead(reply === undefined ? 500 : 200, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' });
    res.end(JSON.stringify(reply ?? { Err: 'no such volume (stub of a test plugin that is gone)' }));
  });
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(socket, resolveListen);
  });
  return server;
}

async function startForgetfulPlugins(log: Log): Promise<() => Promise<void>> {
  const servers: { socket: string; server: Server }[] = [];
  await mkdir(PLUGIN_SOCKET_DIR, { recursive: true });
  for (const driver of await leftoverTestDrivers()) {
    const socket = join(PLUGIN_SOCKET_DIR, `${driver}.sock`);
    if (await listening(socket)) continue;
    log(`volumes of the gone test plugin ${driver} are left in the data root: serving a stub so that dockerd purges them`);
    await rm(socket, { force: true });
    servers.push({ socket, server: await serveForgetfulPlugin(socket) });
  }
  return async () => {
    for (const { socket, server } of servers) {
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      await rm(socket, { force: true });
    }
  };
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolvePing) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2_000 }, (res) => {
      res.resume();
      resolvePing(res.statusCode === 200);
    });
    req.on('error', () => resolvePing(false));
    req.on('timeout', () => {
      req.destroy();
      resolvePing(false);
    });
    req.end();
  });
}

async function logTail(path: string, lines = 25): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startDockerd(options: StartDockerdOptions = {}): Promise<PrivateDockerd> {
  const log = options.log ?? defaultLog;
  const startTimeoutMs = options.startTimeoutMs ?? 90_000;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('private dockerd: the e2e tests must run as root (dockerd, mounts, loop devices)');
  }
  for (const tool of ['dockerd', 'docker', 'flock']) {
    if (!(await which(tool))) {
      throw new Error(`private dockerd: '${tool}' is not installed: apt-get install -y docker.io util-linux (scripts/ensure-system-packages.sh does this)`);
    }
  }

  const lock = await acquireLock(log, options.lockTimeoutMs ?? 600_000);
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  let stopStubs = async () => {};
  try {
    await reapOrphans(log);
    await removeDeadPluginSockets(log);
    stopStubs = await startForgetfulPlugins(log);
    dir = await makeTempDir('dockerd');
    const socket = join(dir, 'docker.sock');
    const execRoot = join(dir, 'exec');
    const pidfile = join(dir, 'docker.pid');
    const logPath = join(dir, 'dockerd.log');
    await mkdir(execRoot, { recursive: true });
    await mkdir(DOCKER_DATA_ROOT, { recursive: true });
    // No --containerd: dockerd then supervises its own containerd with its socket and state
    // under the exec-root and its content under the data root, apart from any system one.
    const args = [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--host',
      `unix://${socket}`,
      '--data-root',
      DOCKER_DATA_ROOT,
      '--exec-root',
      execRoot,
      '--pidfile',
      pidfile,
    ];
    const logFd = openSync(logPath, 'a');
    try {
      child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    const spawned = child;
    let spawnError: Error | undefined;
    spawned.once('error', (error) => (spawnError = error));
    if (spawned.pid === undefined) throw new Error(`private dockerd: could not spawn dockerd: ${spawnError?.message ?? 'no pid'}`);
    const pid = spawned.pid;
    const state: DaemonState = { dockerd: record(pid), execRoot, dir };
    await writeFile(STATE_PATH, JSON.stringify(state));
    log(`started dockerd pid ${pid}, socket ${socket}, data root ${DOCKER_DATA_ROOT}`);

    const started = Date.now();
    let lastProgress = started;
    for (;;) {
      if (spawnError) throw new Error(`private dockerd: spawn failed: ${spawnError.message}`);
      if (spawned.exitCode !== null || spawned.signalCode !== null) {
        throw new Error(`private dockerd exited during start (exit ${spawned.exitCode ?? spawned.signalCode}); its log ends:\n${await logTail(logPath)}`);
      }
      if (await ping(socket)) break;
      const now = Date.now();
      if (now - started > startTimeoutMs) {
        throw new Error(`private dockerd did not answer /_ping within ${startTimeoutMs} ms; its log ends:\n${await logTail(logPath)}`);
      }
      if (now - lastProgress >= 5_000) {
        lastProgress = now;
        log(`waiting for dockerd /_ping: ${Math.round((now - started) / 1000)} s; last log line: ${(await logTail(logPath, 1)).slice(0, 200)}`);
      }
      await sleep(200);
    }
    log(`dockerd answers /_ping after ${Date.now() - started} ms`);
    // Its containerd is up by now: record it too, so that a crash of this process leaves the
    // next run both PIDs to stop.
    state.containerd = await recordContainerd(pid, execRoot);
    if (state.containerd === undefined) log(`no containerd child of dockerd ${pid} found in ${join(execRoot, 'containerd', 'containerd.pid')}`);
    await writeFile(STATE_PATH, JSON.stringify(state));

    const tempDir = dir;
    let stopped: Promise<void> | undefined;
    return {
      socket,
      dockerHost: `unix://${socket}`,
      dataRoot: DOCKER_DATA_ROOT,
      execRoot,
      pid,
      docker: makeDockerCli(`unix://${socket}`),
      stop() {
        stopped ??= (async () => {
          try {
            await terminate(pid, log, 'dockerd');
            // Only now: dockerd keeps every plugin it has activated and would retry a dead one.
            await stopStubs();
            await reapOrphans(log);
            await unmountBelow(tempDir);
            await rm(tempDir, { recursive: true, force: true });
          } finally {
            await lock.release();
          }
        })();
        return stopped;
      },
    };
  } catch (error) {
    await stopStubs();
    if (child?.pid !== undefined) await terminate(child.pid, log, 'dockerd');
    await reapOrphans(log).catch(() => undefined);
    if (dir !== undefined) {
      await unmountBelow(dir);
      await rm(dir, { recursive: true, force: true });
    }
    await lock.release();
    throw error;
  }
}
