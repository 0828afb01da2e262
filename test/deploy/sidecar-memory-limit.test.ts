// The examples' memory for the sidecar container (k8s-style-manifests: requests/limits;
// marathon-examples pods: the sidecar container's `mem`, which Mesos enforces as its limit) is
// enough for what the sidecar uses: the shipped bundle, under the image's node flags, attaches
// a loop-backend volume (mkfs, losetup, mount) with the Redis store, and its peak RSS (VmHWM,
// polled from /proc while it attaches, runs and detaches) stays below every example's limit,
// and its RSS once ready within the Kubernetes request. A figure of the process, not a timing.
// It runs in a memory cgroup with the smallest of those limits, as its container would: the
// kernel enforces the limit (node also sizes its heap from it), and the OOM killer must not
// have struck.
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { buildBundle, imageNodeFlags, type Bundle } from '../helpers/bundle.js';
import { startDvdi, waitFor } from '../helpers/cli.js';
import { createMemoryCgroup } from '../helpers/memory-cgroup.js';
import { startNodeRig } from '../helpers/node-rig.js';
import { startRedisServer, stopAllRedis } from '../helpers/redis-server.js';
import { REPO, filesIn } from './deploy-checks.js';

const MiB = 1024 * 1024;

/** Kubernetes quantities the examples use: Mi, Gi, or plain bytes. */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`memory quantity "${q}": expected <n>Mi, <n>Gi or bytes`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 * MiB : m[2] === 'Mi' ? MiB : 1);
}

interface Limit {
  where: string;
  limitBytes: number;
  requestBytes?: number;
}

function exampleLimits(): Limit[] {
  const limits: Limit[] = [];
  for (const file of filesIn('k8s-style-manifests', '.yaml')) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const obj = doc.toJS() as { spec?: { template?: { spec?: { containers?: unknown[]; initContainers?: unknown[] } } } } | null;
      const pod = obj?.spec?.template?.spec;
      for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])] as Array<{ name: string; resources?: { requests?: { memory?: string }; limits?: { memory?: string } } }>) {
        if (c.name !== 'dvdi-sidecar') continue;
        const limit = c.resources?.limits?.memory;
        const request = c.resources?.requests?.memory;
        if (limit === undefined) throw new Error(`${file}: the dvdi-sidecar container has no memory limit`);
        limits.push({ where: `${file.slice(REPO.length)} limits.memory`, limitBytes: quantityBytes(limit), ...(request ? { requestBytes: quantityBytes(request) } : {}) });
      }
    }
  }
  for (const file of filesIn('marathon-examples', '.json')) {
    const pod = JSON.parse(readFileSync(file, 'utf8')) as { containers?: Array<{ name: string; resources?: { mem?: number } }> };
    for (const c of pod.containers ?? []) {
      if (c.name !== 'dvdi-sidecar') continue;
      if (typeof c.resources?.mem !== 'number') throw new Error(`${file}: the dvdi-sidecar container has no mem`);
      limits.push({ where: `${file.slice(REPO.length)} resources.mem`, limitBytes: c.resources.mem * MiB });
    }
  }
  return limits;
}

function statusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = /^(\w+):\s+(\d+) kB$/gm;
  for (let m = kB.exec(status); m !== null; m = kB.exec(status)) if (m[1] === field) return Number(m[2]) * 1024;
  throw new Error(`/proc/${pid}/status has no ${field}`);
}

let bundle: Bundle | undefined;
test.after.always(async () => {
  await stopAllRedis();
  if (bundle) await rm(bundle.root, { recursive: true, force: true });
});

test('the examples limit the sidecar container above its measured peak while it attaches a loop volume with the Redis store', async (t) => {
  const limits = exampleLimits();
  t.true(limits.length >= 3, `dvdi-sidecar containers found: ${limits.map((l) => l.where).join(', ')}`);
  bundle = await buildBundle();
  const flags = await imageNodeFlags();
  const redis = await startRedisServer();
  const rig = await startNodeRig({ backend: 'loop', env: { DVDI_REDIS_URL: redis.url, DVDI_LOG_LEVEL: 'info' } });
  const smallest = Math.min(...limits.map((l) => l.limitBytes));
  // Where this machine can make no memory cgroup, the figures below are still checked; the log says so.
  const cgroup = await createMemoryCgroup('memory-limit', smallest).catch((error: unknown) => {
    t.log(`no memory cgroup (${error instanceof Error ? error.message : String(error)}): the sidecar runs without the kernel's limit`);
    return undefined;
  });
  try {
    const child = startDvdi(['sidecar'], { ...rig.env, DVDI_TASK_ID: 'mem-1', DVDI_VOLUME_NAME: 'memvol', DVDI_VOLUME_OPTS: 'size=0.05' }, [...flags, bundle.dvdi], cgroup?.wrap);
    const pid = child.pid!;
    let peak = 0;
    const poll = setInterval(() => {
      try {
        peak = Math.max(peak, statusBytes(pid, 'VmHWM'));
      } catch {
        // exited between two polls
      }
    }, 10);
    try {
      let url = '';
      await waitFor('the sidecar to listen', () => {
        if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${child.output.stderr}`);
        const line = child.output.stderr.split('\n').find((l) => l.includes('http endpoints listening'));
        if (line) url = (JSON.parse(line) as { url: string }).url;
        return url !== '';
      });
      await waitFor('the sidecar to be ready', async () => {
        if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${child.output.stderr}`);
        return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
      }, 120_000);
      const readyRss = statusBytes(pid, 'VmRSS');
      // A few lease renewals and requests while it runs (TTL 15 s: renewals every 5 s).
      for (let i = 0; i < 20; i++) {
        await fetch(`${url}/metrics`).then((r) => r.text());
        await fetch(`${url}/status`).then((r) => r.text());
        await new Promise((r) => setTimeout(r, 300));
      }
      peak = Math.max(peak, statusBytes(pid, 'VmHWM'));
      child.kill('SIGTERM');
      const finished = await child.finished;
      t.is(cgroup?.oomKills() ?? 0, 0, `the OOM killer struck in the ${(smallest / MiB).toFixed(0)} MiB cgroup`);
      t.is(finished.code, 0, finished.stderr);
      const charged = cgroup?.peakBytes();
      t.log(`node ${flags.join(' ')}, ${cgroup === undefined ? 'no memory cgroup' : `in a ${(smallest / MiB).toFixed(0)} MiB memory cgroup`}: RSS at ready ${(readyRss / MiB).toFixed(1)} MiB, peak RSS (VmHWM) ${(peak / MiB).toFixed(1)} MiB, cgroup peak ${charged === undefined ? 'not kept by this kernel' : `${(charged / MiB).toFixed(1)} MiB`}`);
      for (const limit of limits) {
        t.true(peak < limit.limitBytes, `${limit.where}: peak ${(peak / MiB).toFixed(1)} MiB must stay below ${(limit.limitBytes / MiB).toFixed(0)} MiB`);
        if (limit.requestBytes !== undefined) {
          t.true(readyRss <= limit.requestBytes, `${limit.where}: RSS at ready ${(readyRss / MiB).toFixed(1)} MiB must fit the request of ${(limit.requestBytes / MiB).toFixed(0)} MiB`);
        }
      }
    } finally {
      clearInterval(poll);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await child.finished;
      }
    }
  } finally {
    await rig.stop();
    await cgroup?.remove();
  }
});
