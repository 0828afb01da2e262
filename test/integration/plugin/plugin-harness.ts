// Test harness for the reference plugin: one real `dvdi plugin` process per test, its own
// rshared mount root and socket, a plain node:http client over the unix socket, and a teardown
// that kills the process, unmounts everything below the test directory and detaches any loop
// device whose image lives there.
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { mountsAt, readMountInfo } from '../../../src/common/mountinfo.js';
import { startDvdi, waitFor, type Finished } from '../../helpers/cli.js';
import { makeSharedRoot, unmountBelow, type TempRoot } from '../../helpers/mount-root.js';

export interface Reply {
  status: number;
  contentType: string | undefined;
  body: Record<string, unknown>;
  raw: string;
}

/** POST `body` (object → JSON, string → as is) to `/path` over the unix socket. */
export function call(socket: string, path: string, body: unknown = {}, headers: Record<string, string> = {}, method = 'POST'): Promise<Reply> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/${path}`, method, headers: { Host: 'plugin.moby.localhost', Accept: 'application/vnd.docker.plugins.v1.2+json', ...headers } }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (raw += chunk));
      res.on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // left empty: the test looks at raw
        }
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: parsed, raw });
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

export interface PluginProcess {
  readonly finished: Promise<Finished>;
  readonly output: { stdout: string; stderr: string };
  kill(signal: NodeJS.Signals): void;
}

export class PluginHarness {
  readonly socket: string;
  readonly pluginRoot: string;
  readonly journal: string;
  process: PluginProcess | undefined;
  private readonly processes: PluginProcess[] = [];

  private constructor(
    readonly temp: TempRoot,
    readonly backend: 'dir' | 'loop',
    readonly extraArgs: string[],
  ) {
    this.socket = join(temp.dir, 'sock', 'plugin.sock');
    this.pluginRoot = join(temp.root, 'plugin');
    this.journal = join(temp.dir, 'journal.jsonl');
  }

  static async create(t: ExecutionContext, backend: 'dir' | 'loop', extraArgs: string[] = [], temp?: TempRoot): Promise<PluginHarness> {
    const harness = new PluginHarness(temp ?? (await makeSharedRoot(`plugin-${backend}`)), backend, extraArgs);
    t.teardown(() => harness.cleanup(temp === undefined));
    await harness.start();
    return harness;
  }

  args(): string[] {
    return ['plugin', '--name', 'testplug', '--backend', this.backend, '--root', this.pluginRoot, '--socket', this.socket, '--journal', this.journal, '--log-level', 'debug', ...this.extraArgs];
  }

  async start(): Promise<void> {
    const child = startDvdi(this.args());
    const proc: PluginProcess = { finished: child.finished, output: child.output, kill: (signal) => child.kill(signal) };
    this.process = proc;
    this.processes.push(proc);
    let exited: Finished | undefined;
    void child.finished.then((result) => (exited = result));
    await waitFor('the plugin to answer Activate', async () => {
      if (exited !== undefined) throw new Error(`plugin exited early (${exited.code ?? exited.signal}): ${exited.stderr}`);
      try {
        return (await call(this.socket, 'Plugin.Activate', '')).status === 200;
      } catch {
        return false;
      }
    });
  }

  /** SIGKILL: no shutdown code runs, the socket file stays behind. */
  async crash(): Promise<void> {
    this.process?.kill('SIGKILL');
    await this.process?.finished;
  }

  async restart(): Promise<void> {
    await this.crash();
    await this.start();
  }

  call(method: string, body: unknown = {}): Promise<Reply> {
    return call(this.socket, method === 'Plugin.Activate' ? method : `VolumeDriver.${method}`, body);
  }

  /** Call and require HTTP 200 without Err. */
  async ok(method: string, body: unknown = {}): Promise<Record<string, unknown>> {
    const reply = await this.call(method, body);
    if (reply.status !== 200 || typeof reply.body.Err === 'string') throw new Error(`${method} ${JSON.stringify(body)} failed: ${reply.status} ${reply.raw}`);
    return reply.body;
  }

  mountPoint(name: string): string {
    return join(this.pluginRoot, 'mounts', name);
  }

  async isMounted(path: string): Promise<boolean> {
    return mountsAt(await readMountInfo(), path).length > 0;
  }

  async journalLines(): Promise<Record<string, unknown>[]> {
    const text = await readFile(this.journal, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async cleanup(removeTemp: boolean): Promise<void> {
    for (const proc of this.processes) proc.kill('SIGKILL');
    await Promise.all(this.processes.map((proc) => proc.finished));
    if (removeTemp) {
      await unmountBelow(this.temp.dir);
      detachLoopsUnder(this.temp.dir);
      await this.temp.cleanup();
    }
  }
}

/** Loop devices whose backing file is below `dir`, as "device → file". */
export function loopDevicesUnder(dir: string): Map<string, string> {
  const out = execFileSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  const devices = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [device, ...file] = line.trim().split(' ');
    const backing = file.join(' ');
    if (device && backing.startsWith(`${dir}/`)) devices.set(device, backing);
  }
  return devices;
}

export function detachLoopsUnder(dir: string): void {
  for (const device of loopDevicesUnder(dir).keys()) {
    try {
      execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
    } catch {
      // autoclear got there first
    }
  }
}

/** Every path below `dir` (relative), sorted: to prove nothing appeared or vanished. */
export function listTree(dir: string): string[] {
  const out = execFileSync('find', [dir, '-mindepth', '1', '-printf', '%P\\n'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line !== '').sort();
}
