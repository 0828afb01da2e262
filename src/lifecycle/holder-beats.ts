// The rule for reading the holders' beats (ports.ts HolderBeatPort), in one place: the sidecar
// (before it unmounts as the node's last holder) and the node's sweep (before it takes anything
// away) ask the same question — does a process on this node still keep a claim on the volume?
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { HolderBeat, HolderBeatPort } from './ports.js';
import type { VolumeKey } from '../refcount/refcount-store.js';

/** A beat younger than one lease TTL: its holder's process is alive and keeping its claim (a
 * holder beats every third of a TTL). A beat from the future (a clock stepped back) counts for
 * at most one TTL too. */
export function isFreshBeat(beat: HolderBeat, now: number, leaseTtlMs: number): boolean {
  return Math.abs(now - beat.beatAt) < leaseTtlMs;
}

/** The node's fresh beats, read once; an unreadable beat store counts as none (the store's
 * record then decides alone, as without beats). */
export async function freshBeats(holders: HolderBeatPort | undefined, clock: Clock, leaseTtlMs: number, logger: Logger): Promise<HolderBeat[]> {
  if (holders === undefined) return [];
  try {
    const now = clock.now();
    return (await holders.list()).filter((b) => isFreshBeat(b, now, leaseTtlMs));
  } catch (error) {
    logger.warn({ err: error }, 'could not read the holders\' beats');
    return [];
  }
}

export function beatsOf(beats: readonly HolderBeat[], volume: VolumeKey): HolderBeat[] {
  return beats.filter((b) => b.driver === volume.driver && b.name === volume.name);
}
