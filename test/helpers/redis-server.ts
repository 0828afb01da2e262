// Private redis-server processes for tests: one per test file on a free loopback port, without
// persistence (so a restart comes back empty, like a Redis that lost its data), and a
// primary + replica + three sentinels topology for failover tests. Every process started here
// is remembered and killed by `stopAllRedis()` (call it in test.after.always) and, as a last
// resort, when the test process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  url: string;
  port: number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit (a crash). */
  kill9(): Promise<void>;
  /** Start again on the same port, empty (no persistence); stops it first if it runs. */
  restart(): Promise<void>;
  /** True while the process runs. */
  running(): boolean;
  /** SIGSTOP: the kernel still accepts connections, the server answers nothing (a stall). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface SentinelTopology {
  primary: RedisServer;
  replica: RedisServer;
  sentinels: { host: string; port: number }[];
  masterName: string;
  stopAll(): Promise<void>;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Kill every process this helper started in this test process, and remove their temp dirs. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((child) => terminate(child, 'SIGKILL')));
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** PING over a raw socket: true once the server answers PONG. */
async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function waitForPing(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} on port ${port} exited during start (${child.exitCode ?? child.signalCode})`);
    if (await answersPing(port)) return;
    await sleep(25);
  }
  throw new Error(`${what} on port ${port} did not answer PING within 10 s`);
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
  live.delete(child);
}

function spawnTracked(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** A redis-server on a free loopback port; `extraArgs` are passed through on every start. */
export async function startRedisServer(options: { extraArgs?: string[]; port?: number } = {}): Promise<RedisServer> {
  const dir = await tempDir('dvdi-redis-');
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  const args = (): string[] => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--enable-debug-command',
    'local',
    ...(options.extraArgs ?? []),
  ];
  const start = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const spawned = spawnTracked('redis-server', args());
      child = spawned;
      try {
        await waitForPing(port, spawned, 'redis-server');
        return;
      } catch (error) {
        await terminate(spawned, 'SIGKILL');
        // The free port may have been taken between the probe and the start: pick another,
        // unless the port is fixed (a restart must come back where clients look for it).
        if (attempt >= 3 || options.port !== undefined) throw error;
        port = await freePort();
      }
    }
  };
  await start();
  const server: RedisServer = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    async stop() {
      if (child) await terminate(child, 'SIGTERM');
    },
    async kill9() {
      if (child) await terminate(child, 'SIGKILL');
    },
    async restart() {
      if (child) await terminate(child, 'SIGKILL');
      // Same port: never pick another on restart.
      const spawned = spawnTracked('redis-server', args());
      child = spawned;
      await waitForPing(port, spawned, 'redis-server (restart)');
    },
    running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    pause() {
      if (server.running()) child!.kill('SIGSTOP');
    },
    resume() {
      if (server.running()) child!.kill('SIGCONT');
    },
  };
  return server;
}

/** Primary + replica + three sentinels (quorum 2) watching `masterName`, all on loopback, with
 * short failure detection (1 s) so a failover completes within a few seconds. */
export async function startSentinelTopology(masterName = 'dvdi-test'): Promise<SentinelTopology> {
  const primary = await startRedisServer();
  // The replica is made one at run time, not by `--replicaof` on its command line: a restart
  // (after a kill -9) must come back as an empty master whatever its role was, for the
  // sentinels to turn into a replica of whoever is primary then. With the original primary baked
  // into its arguments, a restart of this server while it was the primary, before the failover
  // finished, made the two servers replicas of each other, for good (each refuses the other's
  // sync: NOMASTERLINK) — the chaos run's "sentinel set-up did not settle".
  const replica = await startRedisServer();
  await redisCli(replica.port, ['REPLICAOF', '127.0.0.1', String(primary.port)]);
  const sentinels: { host: string; port: number }[] = [];
  const sentinelProcs: ChildProcess[] = [];
  const dir = await tempDir('dvdi-sentinel-');
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    // Sentinel rewrites its config file, so each gets its own writable copy.
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    const child = spawnTracked('redis-server', [conf, '--sentinel']);
    sentinelProcs.push(child);
    await waitForPing(port, child, 'redis-sentinel');
    sentinels.push({ host: '127.0.0.1', port });
  }
  return {
    primary,
    replica,
    sentinels,
    masterName,
    async stopAll() {
      await Promise.all(sentinelProcs.map((c) => terminate(c, 'SIGKILL')));
      await primary.kill9();
      await replica.kill9();
    },
  };
}

export interface ClusterTopology {
  /** The six servers (3 masters + 3 replicas at creation; roles change on failover). */
  servers: RedisServer[];
  /** Seed nodes for DVDI_REDIS_CLUSTER_NODES / the Cluster client. */
  seeds: { host: string; port: number }[];
  /** `host:port,…` of every node. */
  seedList: string;
  /** The server that is now master of `slot` (asked from a live node's CLUSTER SLOTS). */
  masterOf(slot: number): Promise<RedisServer>;
  /** Current masters (from CLUSTER NODES of a live node). */
  masters(): Promise<RedisServer[]>;
  /** Resolves once every live node reports cluster_state:ok and every slot has a live master. */
  waitOk(timeoutMs?: number): Promise<void>;
  stopAll(): Promise<void>;
}

/** One command to one node over redis-cli (no client library: the helper must not trust the code under test). */
export async function redisCli(port: number, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli -p ${port} ${args.join(' ')} exited ${String(code)}: ${err}${out.slice(-3000)}`));
    });
  });
}

/**
 * A real Redis Cluster on loopback: 6 `redis-server --cluster-enabled yes` (own dirs, own free
 * client and bus ports, node timeout 2 s unless `nodeTimeoutMs`, no persistence), joined with
 * `redis-cli --cluster create … --cluster-replicas 1`: 3 masters + 3 replicas. Every process is
 * tracked like the others (stopAllRedis kills them by PID).
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<ClusterTopology> {
  const servers: RedisServer[] = [];
  for (let i = 0; i < 6; i++) {
    const busPort = await freePort();
    servers.push(
      await startRedisServer({
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000), '--cluster-port', String(busPort), '--cluster-replica-validity-factor', '0'],
      }),
    );
  }
  const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
  await redisCli(servers[0]!.port, ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], 60_000);
  const byPort = new Map(servers.map((s) => [s.port, s]));
  const live = (): RedisServer[] => servers.filter((s) => s.running());
  const topology: ClusterTopology = {
    servers,
    seeds: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    seedList: addresses.join(','),
    async masters() {
      for (const s of live()) {
        try {
          const lines = (await redisCli(s.port, ['CLUSTER', 'NODES'])).split('\n');
          // A master that serves slots (a node just promoted or added without slots is not one yet).
          return lines
            .filter((l) => (l.split(' ')[2] ?? '').split(',').includes('master') && !(l.split(' ')[2] ?? '').includes('fail') && l.trim().split(' ').length > 8)
            .map((l) => byPort.get(Number(/:(\d+)@/.exec(l)?.[1])))
            .filter((x): x is RedisServer => x !== undefined && x.running());
        } catch {
          // try the next node
        }
      }
      throw new Error('no live cluster node answered CLUSTER NODES');
    },
    async masterOf(slot) {
      for (const s of live()) {
        try {
          const nodes = (await redisCli(s.port, ['CLUSTER', 'NODES'])).split('\n');
          for (const line of nodes) {
            const fields = line.split(' ');
            if (!(fields[2] ?? '').includes('master') || (fields[2] ?? '').includes('fail')) continue;
            for (const range of fields.slice(8)) {
              const [from, to] = range.split('-').map(Number);
              if (from !== undefined && slot >= from && slot <= (to ?? from)) {
                const server = byPort.get(Number(/:(\d+)@/.exec(line)?.[1]));
                if (server) return server;
              }
            }
          }
        } catch {
          // try the next node
        }
      }
      throw new Error(`no live master for slot ${slot}`);
    },
    async waitOk(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let ok = true;
        for (const s of live()) {
          const info = await redisCli(s.port, ['CLUSTER', 'INFO']).catch(() => '');
          if (!info.includes('cluster_state:ok')) ok = false;
          // Every live node also sees every live replica as a replica (right after create, the
          // replicas show as slot-less masters for a moment).
          const nodes = await redisCli(s.port, ['CLUSTER', 'NODES']).catch(() => '');
          const lines = nodes.split('\n').filter((l) => l.trim() !== '' && !l.includes('fail'));
          const replicas = lines.filter((l) => (l.split(' ')[2] ?? '').includes('slave')).length;
          const masters = lines.filter((l) => (l.split(' ')[2] ?? '').includes('master') && l.trim().split(' ').length > 8).length;
          if (masters + replicas !== lines.length) ok = false;
        }
        if (ok) return;
        if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok');
        await sleep(200);
      }
    },
    async stopAll() {
      await Promise.all(servers.map((s) => s.kill9()));
    },
  };
  await topology.waitOk(30_000);
  return topology;
}
