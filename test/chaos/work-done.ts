// What a chaos run actually did, and the check that it did enough to mean anything: a run in
// which every sidecar failed fast (or no fault fired, or nothing was ever unmounted) violates
// no invariant, so the invariants alone would pass it. Plain functions over counts, unit-tested
// in work-done.test.ts.
import type { JournalEntry } from '../../src/plugin/mount-journal.js';

export interface ChaosWork {
  sidecarsStarted: number;
  /** Sidecars that logged `ready` (every volume attached). */
  sidecarsReady: number;
  /** Faults injected, all kinds together (per kind: ChaosResult.injected). */
  faultsInjected: number;
  /** Driver Mounts that mounted a filesystem (journal: Mount ok, changed). */
  mountsDone: number;
  /** Driver Unmounts that unmounted one (journal: Unmount ok, changed). */
  unmountsDone: number;
  /** Driver Unmounts the plugin refused because the ID holds nothing (journal: Unmount error with
   * rclone's `volume is not mounted[ by this id]`): what `--habits rclone` provokes and the
   * sidecar must tolerate (src/lifecycle/unmount-outcome.ts). Always 0 with reference habits. */
  unmountsRefused: number;
}

/** The refusal `--habits rclone` answers to an Unmount of an ID that holds nothing (src/plugin/volume-service.ts). */
const NOT_MOUNTED_REFUSAL = /^volume is not mounted( by this id)?$/;

export function summarizeWork(input: {
  sidecars: ReadonlyArray<{ readyAt?: number } | undefined>;
  injected: Readonly<Record<string, number>>;
  journal: readonly JournalEntry[];
}): ChaosWork {
  const sidecars = input.sidecars.filter((s) => s !== undefined);
  const done = (op: JournalEntry['op']) => input.journal.filter((l) => l.op === op && l.result === 'ok' && l.changed === true).length;
  return {
    sidecarsStarted: sidecars.length,
    sidecarsReady: sidecars.filter((s) => s.readyAt !== undefined).length,
    faultsInjected: Object.values(input.injected).reduce((a, b) => a + b, 0),
    mountsDone: done('Mount'),
    unmountsDone: done('Unmount'),
    unmountsRefused: input.journal.filter((l) => l.op === 'Unmount' && l.result === 'error' && NOT_MOUNTED_REFUSAL.test(l.error ?? '')).length,
  };
}

/** Each way the run fell short of doing real work, as a sentence; empty when it did. */
export function workShortfalls(work: ChaosWork): string[] {
  const out: string[] = [];
  if (work.sidecarsReady === 0) out.push(`no sidecar became ready (${work.sidecarsStarted} started)`);
  if (work.faultsInjected === 0) out.push('no fault was injected');
  if (work.mountsDone === 0) out.push('no driver Mount mounted anything');
  if (work.unmountsDone === 0) out.push('no driver Unmount completed');
  return out;
}
