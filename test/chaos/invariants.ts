// The chaos suite's invariant checkers (docs/chaos.md "Invariants"): plain functions
// over what a run recorded — the plugins' mount journals, periodic snapshots of the store, the
// sidecar processes' lives, and, at quiescence, mountinfo and the Redis keys. Each returns the
// violations it found (empty = holds); none of them reads a clock or a file, so each can be
// unit-tested with a hand-written history that breaks it.
import type { JournalLine } from '../helpers/node-rig.js';
import type { VolumeView } from '../../src/refcount/refcount-store.js';

export interface Violation {
  invariant: string;
  message: string;
  /** Epoch ms of the event that broke it, when there is one. */
  at?: number;
}

/** A journal line with the plugin it came from (each node runs one pool and one shared plugin). */
export interface RecordedJournalLine extends JournalLine {
  plugin: string;
}

export interface SidecarLife {
  task: string;
  node: string;
  volume: string;
  driver: string;
  startedAt: number;
  /** When the sidecar logged "ready" (all its volumes attached). */
  readyAt?: number;
  exitedAt?: number;
}

export interface StoreSnapshot {
  /** Epoch ms before the list() call was sent and after its answer arrived. */
  start: number;
  end: number;
  volumes: VolumeView[];
}

export interface AttachInterval {
  node: string;
  from: number;
  to: number;
}

const SINGLE_ATTACH = 'exclusive attach intervals never overlap across nodes';
const NO_PREMATURE_UNMOUNT = 'no node unmounts a volume while a ready holder on it has a live lease';
const HOLDERS_MATCH_TASKS = 'at quiescence holders equal live tasks, and a volume is mounted on a node exactly when it has holders there';
const NO_IMMORTAL_KEYS = 'no lease key without an expiry';
const ORPHANS_GONE = 'every orphan is gone within TTL + one reconcile period + the unmount limit';

export const INVARIANTS = { SINGLE_ATTACH, NO_PREMATURE_UNMOUNT, HOLDERS_MATCH_TASKS, NO_IMMORTAL_KEYS, ORPHANS_GONE } as const;

/**
 * Attach intervals of one volume per node from the journal lines of its (pool) plugins: from a
 * Mount that attached to the Unmount that detached. The pool plugin stamps both ends itself
 * (`attachedAt` just after the attachment record became its node's, `detachedAt` just before it
 * dropped it), so an interval never starts before its attach nor ends after its detach; a line's
 * `time` is only when the whole call finished, which under load can be long after the attach (a
 * Mount's losetup, mkfs and mount come after it) or the detach. Journals without the stamps (and
 * an Unmount whose record was no longer this node's) fall back to `time`. An Unmount with no
 * journaled Mount before it (the plugin was killed after attaching, before journaling) starts at
 * `fallbackStart(node, time)`: the last crash of that node's plugin before it.
 *
 * A preempting attach takes the volume from the node it names (`preempted`: the record it
 * replaced) at that moment, as EBS force-detaches: that node's interval ends there, and its own
 * later Unmount only tidies the local mount of an attachment it no longer has. Without the
 * stamps, `preempting(node, volume, time)` says which Mounts preempted (and they end every other
 * node's interval).
 */
export function attachIntervals(
  journal: readonly RecordedJournalLine[],
  volume: string,
  fallbackStart: (node: string, time: number) => number = () => 0,
  preempting: (node: string, volume: string, time: number) => boolean = () => false,
): AttachInterval[] {
  const out: AttachInterval[] = [];
  const open = new Map<string, number>();
  const takenOver = new Set<string>();
  const events = journal
    .filter((l) => l.volume === volume && ((l.result === 'ok' && l.changed === true) || (l.op === 'Unmount' && l.detachedAt !== undefined)))
    .map((line) => {
      const stamp = line.op === 'Mount' ? line.attachedAt : line.detachedAt;
      return { line, at: Date.parse(stamp ?? line.time), stamped: stamp !== undefined };
    })
    .sort((a, b) => a.at - b.at);
  for (const { line, at, stamped } of events) {
    const node = line.node ?? '?';
    if (line.op === 'Mount') {
      const from = line.preempted !== undefined ? [line.preempted] : !stamped && preempting(node, volume, Date.parse(line.time)) ? [...open.keys()] : [];
      for (const other of from) {
        const since = open.get(other);
        if (other === node || since === undefined) continue;
        out.push({ node: other, from: since, to: at });
        open.delete(other);
        takenOver.add(other);
      }
      if (!open.has(node)) open.set(node, at);
      takenOver.delete(node);
    } else if (!stamped && takenOver.has(node) && !open.has(node)) {
      takenOver.delete(node);
    } else {
      out.push({ node, from: open.get(node) ?? fallbackStart(node, at), to: at });
      open.delete(node);
      takenOver.delete(node);
    }
  }
  for (const [node, from] of open) out.push({ node, from, to: Number.POSITIVE_INFINITY });
  return out;
}

/** Invariant 1. No overlap of two nodes' attachments; a preempting attach (only in runs that
 * preempt) ends the others' attachments at that moment. */
export function checkExclusiveAttachIntervals(
  journal: readonly RecordedJournalLine[],
  exclusiveVolumes: readonly string[],
  fallbackStart?: (node: string, time: number) => number,
  preempting?: (node: string, volume: string, time: number) => boolean,
): Violation[] {
  const violations: Violation[] = [];
  for (const volume of exclusiveVolumes) {
    const intervals = attachIntervals(journal, volume, fallbackStart, preempting);
    for (let i = 0; i < intervals.length; i++) {
      for (let j = i + 1; j < intervals.length; j++) {
        const a = intervals[i]!;
        const b = intervals[j]!;
        if (a.node !== b.node && a.from < b.to && b.from < a.to) {
          violations.push({
            invariant: SINGLE_ATTACH,
            message: `volume ${volume} attached on ${a.node} [${iso(a.from)}, ${iso(a.to)}] and on ${b.node} [${iso(b.from)}, ${iso(b.to)}]`,
            at: Math.max(a.from, b.from),
          });
        }
      }
    }
  }
  return violations;
}

/**
 * Invariant 2. An Unmount that changed something on node N for V at time T is premature when a
 * sidecar of N for V had reported ready before T, had not exited by T, and its holder lease was
 * provably live at T: a snapshot taken wholly before T shows the holder with a lease reaching
 * past T, and a snapshot taken wholly after T still shows the same holder (so it was not
 * released in between). Leases only end early by a release (the holder's own), so both
 * together mean "live at T". Windows with a store data loss are skipped: the store's view
 * before and after is not one history.
 */
export function checkNoUnmountUnderLiveLease(
  journal: readonly RecordedJournalLine[],
  snapshots: readonly StoreSnapshot[],
  sidecars: readonly SidecarLife[],
  dataLosses: readonly number[],
): Violation[] {
  const violations: Violation[] = [];
  const byTask = new Map(sidecars.map((s) => [s.task, s]));
  for (const line of journal) {
    if (line.op !== 'Unmount' || line.result !== 'ok' || line.changed !== true) continue;
    const t = Date.parse(line.time);
    const node = line.node ?? '?';
    const before = [...snapshots].reverse().find((s) => s.end < t);
    const after = snapshots.find((s) => s.start > t);
    if (before === undefined || after === undefined) continue;
    if (dataLosses.some((d) => d >= before.start && d <= after.end)) continue;
    const holdersAt = (snapshot: StoreSnapshot) =>
      snapshot.volumes
        .filter((v) => v.name === line.volume)
        .flatMap((v) => v.holders.filter((h) => h.node === node && h.role === 'holder' && h.expiresInMs > 0));
    const later = new Set(holdersAt(after).map((h) => h.token));
    for (const holder of holdersAt(before)) {
      if (before.start + holder.expiresInMs <= t || !later.has(holder.token)) continue;
      const sidecar = byTask.get(holder.task);
      if (sidecar === undefined || sidecar.readyAt === undefined || sidecar.readyAt > t) continue;
      if (sidecar.exitedAt !== undefined && sidecar.exitedAt <= t) continue;
      violations.push({
        invariant: NO_PREMATURE_UNMOUNT,
        message: `${line.plugin} on ${node} unmounted ${line.volume} at ${line.time} while task ${holder.task} (ready since ${iso(sidecar.readyAt)}) held a lease live until at least ${iso(before.start + holder.expiresInMs)}`,
        at: t,
      });
    }
  }
  return violations;
}

/** What is mounted at quiescence: binds under a node's mount root, and the plugins' own mounts. */
export interface MountFact {
  node: string;
  volume: string;
  kind: 'bind' | 'plugin';
  path: string;
}

export interface QuiescentTask {
  task: string;
  node: string;
  volume: string;
  ready: boolean;
}

function liveHolders(volumes: readonly VolumeView[]): Array<{ volume: string; node: string; task: string; role: string; expiresInMs: number }> {
  return volumes.flatMap((v) => v.holders.map((h) => ({ volume: v.name, node: h.node, task: h.task, role: h.role, expiresInMs: h.expiresInMs })));
}

/**
 * Invariant 3, at quiescence: every live task is ready and is exactly one live holder on its node
 * for its volume; every holder belongs to a live task; every (volume, node) with holders has its
 * bind and its plugin mount on that node.
 */
export function checkHoldersMatchTasks(volumes: readonly VolumeView[], tasks: readonly QuiescentTask[], mounts: readonly MountFact[]): Violation[] {
  const violations: Violation[] = [];
  const holders = liveHolders(volumes);
  for (const task of tasks) {
    if (!task.ready) violations.push({ invariant: HOLDERS_MATCH_TASKS, message: `task ${task.task} on ${task.node} (${task.volume}) is alive but not ready at quiescence` });
    const mine = holders.filter((h) => h.task === task.task);
    const ok = mine.length === 1 && mine[0]!.node === task.node && mine[0]!.volume === task.volume && mine[0]!.role === 'holder' && mine[0]!.expiresInMs > 0;
    if (task.ready && !ok) {
      violations.push({ invariant: HOLDERS_MATCH_TASKS, message: `task ${task.task} on ${task.node} (${task.volume}) is ready but the store has ${JSON.stringify(mine)}` });
    }
  }
  const alive = new Set(tasks.map((t) => t.task));
  for (const holder of holders) {
    if (!alive.has(holder.task)) {
      violations.push({ invariant: HOLDERS_MATCH_TASKS, message: `the store has a ${holder.role} of ${holder.volume} on ${holder.node} for task ${holder.task}, which is not running` });
    }
  }
  const wanted = new Set(holders.filter((h) => h.role === 'holder' && alive.has(h.task)).map((h) => `${h.node}\u0000${h.volume}`));
  for (const key of wanted) {
    const [node, volume] = key.split('\u0000') as [string, string];
    for (const kind of ['bind', 'plugin'] as const) {
      if (!mounts.some((m) => m.node === node && m.volume === volume && m.kind === kind)) {
        violations.push({ invariant: HOLDERS_MATCH_TASKS, message: `${volume} has holders on ${node} but no ${kind} mount there` });
      }
    }
  }
  return violations;
}

/** Invariant 5, at the orphan deadline: nothing mounted (bind or plugin mount) and no pool
 * attachment on a node where the volume has no live holder. */
export function checkNoOrphans(volumes: readonly VolumeView[], mounts: readonly MountFact[], attachments: ReadonlyArray<{ volume: string; node: string }>): Violation[] {
  const violations: Violation[] = [];
  const held = new Set(liveHolders(volumes).filter((h) => h.role === 'holder' && h.expiresInMs > 0).map((h) => `${h.node}\u0000${h.volume}`));
  for (const mount of mounts) {
    if (!held.has(`${mount.node}\u0000${mount.volume}`)) {
      violations.push({ invariant: ORPHANS_GONE, message: `orphan ${mount.kind} mount of ${mount.volume} on ${mount.node} at ${mount.path}` });
    }
  }
  for (const attachment of attachments) {
    if (!held.has(`${attachment.node}\u0000${attachment.volume}`)) {
      violations.push({ invariant: ORPHANS_GONE, message: `orphan pool attachment of ${attachment.volume} to ${attachment.node}` });
    }
  }
  return violations;
}

/** Invariant 4: every key under the prefix expires, except the documented index and marker. */
export function checkLeaseKeysExpire(keys: ReadonlyArray<{ key: string; pttl: number }>, prefix: string): Violation[] {
  const exempt = new Set([`${prefix}:volumes`, `${prefix}:alive`]);
  // On Redis Cluster the liveness marker exists once per hash slot: <prefix>:{<tag>}:alive.
  const slotMarker = (key: string): boolean => key.startsWith(`${prefix}:{`) && key.endsWith('}:alive');
  return keys
    .filter((k) => !exempt.has(k.key) && !slotMarker(k.key) && k.pttl !== -2 && k.pttl <= 0)
    .map((k) => ({ invariant: NO_IMMORTAL_KEYS, message: `key ${k.key} has PTTL ${k.pttl}` }));
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
