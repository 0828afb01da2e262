// The README's first command, `npm run demo`, end to end: plugin + sidecar on the embedded
// store, a real loop-backed ext4 volume, then a stop that leaves nothing behind — by
// `--exit-after-ready`, and the way a terminal stops it: `npm run demo` in its own session
// (as a shell runs a foreground job), then SIGINT (Ctrl-C) or SIGHUP (terminal closed) to the
// whole process group, or a second Ctrl-C while a stop hangs.
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { REPO, waitFor } from '../helpers/cli.js';
import { readMountInfo } from '../../src/common/mountinfo.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** The bound the issue sets for a stop, from the signal to the last process gone. */
const STOP_LIMIT_MS = 45_000;

interface DemoRun {
  output: string;
  /** npm's exit: `code` or `signal`. */
  npmExit: { code: number | null; signal: NodeJS.Signals | null };
  runDir: string;
  pids: number[];
  /** The demo's process group (npm's PID: the session leader). */
  pgid: number;
}

/**
 * Session ID (field 6 of /proc/<pid>/stat) of every live process on the machine. Zombies are
 * left out: they have exited already, and one whose parent (npm, killed by SIGHUP) is gone
 * waits only for init to reap it.
 */
function sessions(): Map<number, number> {
  const result = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z') result.set(Number(entry), Number(fields[3]));
    } catch {
      // gone meanwhile
    }
  }
  return result;
}

function loopDevicesBelow(dir: string): string[] {
  return execFileSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`${dir}/`));
}

/**
 * Starts `npm run demo` in a new session, waits until it is ready, then `interrupt` sends the
 * signals; resolves once every process holding the demo's output is gone (or fails after
 * STOP_LIMIT_MS from the first signal).
 */
async function runDemo(interrupt: (pgid: number, output: () => string) => Promise<void>, extraArgs: string[] = []): Promise<DemoRun> {
  const port = await freePort();
  const child = spawn('npm', ['run', '--silent', 'demo', '--', '--port', String(port), ...extraArgs], {
    cwd: REPO,
    detached: true, // setsid(2): its own session and process group, as a shell's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const npmExit = new Promise<DemoRun['npmExit']>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Both pipes close when the last process holding them (npm, the demo, the plugin, the
  // sidecar all write to them) has exited.
  const closed = Promise.all([new Promise((r) => child.stdout.once('close', r)), new Promise((r) => child.stderr.once('close', r))]);
  try {
    await waitFor('the demo to be ready', () => output.includes('press Ctrl-C to stop') || child.exitCode !== null, 150_000, 100);
  } catch (error) {
    process.kill(-pgid, 'SIGKILL');
    throw error;
  }
  if (child.exitCode !== null) throw new Error(`the demo ended before it was ready:\n${output}`);
  const runDir = /run directory (\S+)/.exec(output)?.[1];
  const pids = [...output.matchAll(/(?:plugin|sidecar) pid (\d+)/g)].map((m) => Number(m[1]));
  if (runDir === undefined || pids.length !== 2) throw new Error(`the demo did not name its run directory and both PIDs:\n${output}`);
  await interrupt(pgid, () => output);
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_LIMIT_MS)))]);
  clearTimeout(timer);
  if (!inTime) {
    for (const pid of [pgid, ...pids]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // not there
      }
    }
    throw new Error(`the demo did not end within ${STOP_LIMIT_MS / 1000} s of the signal:\n${output}`);
  }
  return { output, npmExit: await npmExit, runDir, pids, pgid };
}

async function assertNothingLeft(t: ExecutionContext, run: DemoRun): Promise<void> {
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(run.runDir)).map((m) => m.mountPoint), [], 'no mount left');
  t.deepEqual(loopDevicesBelow(run.runDir), [], 'no loop device left');
  t.false(existsSync(run.runDir), 'the run directory is removed');
  const leaders = new Set([run.pgid, ...run.pids]);
  const left = [...sessions()].filter(([pid, sid]) => leaders.has(pid) || leaders.has(sid)).map(([pid]) => pid);
  t.deepEqual(left, [], 'no process of the demo, the plugin or the sidecar (or any of their children) left');
}

function assertOrderlyStop(t: ExecutionContext, output: string): void {
  t.deepEqual(output.split('\n').filter((line) => /\] (warn|error|fatal) |demo failed|STILL mounted|did not stop/.test(line)), [], 'no warn or error line');
  const stopAt = output.search(/(SIGINT|SIGHUP|SIGTERM): stopping/);
  const after = (pattern: RegExp) => {
    const i = output.slice(stopAt).search(pattern);
    return i < 0 ? -1 : stopAt + i;
  };
  // The plugin's own log says when it unmounted the volume and when it began to stop.
  const released = after(/\[plugin\] info volume unmounted \(demo\)/);
  const sidecarDone = after(/sidecar exited with code 0; \S+ is unmounted/);
  const pluginStops = after(/\[plugin\] info stop/);
  // Lines of one child keep their order; lines of two pipes (the plugin's log, the demo's own
  // line about the sidecar) may interleave under load, so each ordering is checked within one
  // stream or where it is causal: the demo signals the plugin only after the sidecar exited.
  t.true(stopAt > 0 && released > stopAt && released < pluginStops, 'the driver Unmount is done before the plugin stops');
  t.true(sidecarDone > stopAt && pluginStops > sidecarDone, 'the sidecar exits (volume unmounted), and only then the plugin stops');
  t.regex(output, /plugin exited with code 0/);
  t.regex(output, /removed \S+\n\s+demo exits with 0\n?$/);
}

test('npm run demo mounts the demo volume, then unmounts it and removes its files', async (t) => {
  const port = await freePort();
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'demo', '--', '--exit-after-ready', '--port', String(port)], {
    cwd: REPO,
    timeout: 150_000,
  });
  t.regex(stdout, /volume "demo" is mounted at (\S+)\/volumes\/demo \(ext4 on \/dev\/loop\d+\)/);
  t.regex(stdout, /wrote \S+hello\.txt: written by the dvdi-sidecar demo/);
  t.regex(stdout, new RegExp(`readiness  http://127\\.0\\.0\\.1:${port}/readyz`));
  t.regex(stdout, /sidecar exited with code 0; \S+ is unmounted/);
  const dir = /removed (\S+)/.exec(stdout)?.[1];
  t.truthy(dir);
  const left = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(dir!));
  t.deepEqual(left, []);
  t.false(existsSync(dir!));
});

test.serial('Ctrl-C (SIGINT to the whole process group of `npm run demo`) stops it in order and leaves nothing', async (t) => {
  const run = await runDemo(async (pgid) => {
    process.kill(-pgid, 'SIGINT');
  });
  t.log(run.output);
  t.deepEqual(run.npmExit, { code: 0, signal: null }, 'npm run demo exits 0');
  t.regex(run.output, /SIGINT: stopping/);
  assertOrderlyStop(t, run.output);
  await assertNothingLeft(t, run);
});

test.serial('SIGHUP to the whole process group (the terminal closed) stops it the same way and leaves nothing', async (t) => {
  const run = await runDemo(async (pgid) => {
    process.kill(-pgid, 'SIGHUP');
  });
  t.log(run.output);
  // npm itself dies of SIGHUP at once, as in a closed terminal; the demo carries on to the end.
  t.is(run.npmExit.signal, 'SIGHUP');
  t.regex(run.output, /SIGHUP: stopping/);
  assertOrderlyStop(t, run.output);
  await assertNothingLeft(t, run);
});

test.serial('SIGTERM to the demo stops it the same way and leaves nothing', async (t) => {
  const run = await runDemo(async (pgid) => {
    process.kill(-pgid, 'SIGTERM');
  });
  t.deepEqual(run.npmExit, { code: 0, signal: null });
  t.regex(run.output, /SIGTERM: stopping/);
  assertOrderlyStop(t, run.output);
  await assertNothingLeft(t, run);
});

test.serial('a second Ctrl-C while the stop hangs forces it, and everything is still cleaned up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-test-demo-faults-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const faults = join(dir, 'faults.json');
  const run = await runDemo(async (pgid, output) => {
    // The plugin's Unmount now hangs: the sidecar's release cannot finish on its own.
    await writeFile(faults, JSON.stringify({ Unmount: { hang: true } }));
    process.kill(-pgid, 'SIGINT');
    await waitFor('the sidecar to start its shutdown', () => output().includes('[sidecar] info shutdown requested'), 20_000, 50);
    await new Promise((r) => setTimeout(r, 1_000));
    process.kill(-pgid, 'SIGINT');
  }, ['--plugin-faults', faults]);
  t.log(run.output);
  t.regex(run.output, /SIGINT again: forcing the stop/);
  t.regex(run.output, /sidecar killed \(signal SIGKILL\)/);
  t.regex(run.output, /plugin killed \(signal SIGKILL\)/);
  t.regex(run.output, /demo exits with 130/);
  t.is(run.npmExit.code, 130);
  await assertNothingLeft(t, run);
});
