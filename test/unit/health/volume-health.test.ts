// The volume health rule (health/volume-health.ts) with a fake mount table, stat and clock:
// a missing bind, a `//deleted` source, ENOTCONN/ESTALE/EIO and a stat that does not answer in
// time are dead; the gauge follows, the change is reported and logged once, and recovery flips
// it back.
import test from 'ava';
import type { Clock } from '../../../src/common/clock.js';
import { AbortedError } from '../../../src/common/errors.js';
import { silentLogger, type Logger } from '../../../src/common/logger.js';
import type { MountInfoEntry } from '../../../src/common/mountinfo.js';
import { VolumeHealthMonitor } from '../../../src/health/volume-health.js';

/** Sleeps wait until aborted or released (`hold`, the default), or resolve at once. */
function clock(hold = true): Clock & { release(): void; hold: boolean } {
  let waiters: Array<() => void> = [];
  const c = {
    hold,
    now: () => 0,
    monotonic: () => 0,
    release() {
      for (const w of waiters) w();
      waiters = [];
    },
    sleep(_ms: number, signal?: AbortSignal) {
      if (!c.hold) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        signal?.addEventListener('abort', () => reject(new AbortedError('sleep')), { once: true });
      });
    },
  };
  return c;
}

function entry(mountPoint: string, root = '/'): MountInfoEntry {
  return { id: 1, parentId: 0, device: '0:1', root, mountPoint, options: [], optionalFields: [], fsType: 'fuse.rclone', source: 'x', superOptions: [] };
}

function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function rig(options: { table: MountInfoEntry[]; stat: (path: string) => Promise<unknown>; logger?: Logger; clock?: Clock }) {
  const gauge: Record<string, number> = {};
  const changes: string[][] = [];
  const monitor = new VolumeHealthMonitor(() => [{ name: 'v', driver: 'rclone', hostPath: '/root/v' }], {
    clock: options.clock ?? clock(),
    logger: options.logger ?? silentLogger(),
    gauge: { set: (labels, value) => void (gauge[`${labels.volume}/${labels.driver}`] = value) },
    onChange: (dead) => changes.push([...dead.keys()]),
    mountTable: async () => options.table,
    statPath: options.stat,
    statTimeoutMs: 50,
  });
  return { monitor, gauge, changes };
}

test('a live bind is healthy: gauge 1, no change reported', async (t) => {
  const { monitor, gauge, changes } = rig({ table: [entry('/root/v')], stat: async () => ({}) });
  await monitor.checkOnce();
  t.is(gauge['v/rclone'], 1);
  t.is(monitor.dead().size, 0);
  t.deepEqual(changes, []);
});

for (const code of ['ENOTCONN', 'ESTALE', 'EIO']) {
  test(`stat failing with ${code} is dead; recovery flips it back`, async (t) => {
    let failing = true;
    const { monitor, gauge, changes } = rig({ table: [entry('/root/v')], stat: async () => (failing ? Promise.reject(errno(code)) : {}) });
    await monitor.checkOnce();
    await monitor.checkOnce();
    t.is(gauge['v/rclone'], 0);
    t.regex(monitor.dead().get('v') ?? '', new RegExp(`stat failed: ${code}`));
    t.deepEqual(changes, [['v']], 'reported once while it stays dead');
    failing = false;
    await monitor.checkOnce();
    t.is(gauge['v/rclone'], 1);
    t.deepEqual(changes, [['v'], []]);
  });
}

test('the bind gone from the mount table is dead', async (t) => {
  const { monitor } = rig({ table: [entry('/root/other')], stat: async () => ({}) });
  await monitor.checkOnce();
  t.regex(monitor.dead().get('v') ?? '', /gone from the mount table/);
});

test('a bind whose source was deleted underneath (//deleted) is dead, judged by the top mount', async (t) => {
  const { monitor } = rig({ table: [entry('/root/v'), entry('/root/v', '/volumes/v//deleted')], stat: async () => ({}) });
  await monitor.checkOnce();
  t.regex(monitor.dead().get('v') ?? '', /source was deleted underneath/);
});

test('a stat that does not answer in time is dead, and no second stat is started on the hung path', async (t) => {
  const c = clock(false);
  let stats = 0;
  const { monitor } = rig({ clock: c, table: [entry('/root/v')], stat: () => ((stats += 1), new Promise(() => undefined)) });
  await monitor.checkOnce();
  await monitor.checkOnce();
  t.regex(monitor.dead().get('v') ?? '', /did not answer within 50 ms/);
  t.is(stats, 1);
});

test('the dead verdict is logged once with the operator action', async (t) => {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const logger = {
    error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'error', msg, fields }),
    info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', msg, fields }),
    warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', msg, fields }),
  } as unknown as Logger;
  const { monitor } = rig({ logger, table: [entry('/root/v')], stat: async () => Promise.reject(errno('ENOTCONN')) });
  await monitor.checkOnce();
  await monitor.checkOnce();
  const dead = lines.filter((l) => l.msg === 'volume is dead: not ready');
  t.is(dead.length, 1);
  t.regex(String(dead[0]?.fields.action), /restart the task/);
});

test('run checks at once, then every interval, until aborted', async (t) => {
  const c = clock();
  let stats = 0;
  const { monitor } = rig({ clock: c, table: [entry('/root/v')], stat: async () => ((stats += 1), {}) });
  const stop = new AbortController();
  const running = monitor.run(stop.signal);
  await new Promise((r) => setImmediate(r));
  t.is(stats, 1, 'first check before the first sleep');
  c.release();
  await new Promise((r) => setTimeout(r, 10));
  t.is(stats, 2);
  stop.abort();
  await running;
});
