// Per-(volume, ID) mount counts: the rule that decides when the filesystem is really mounted
// and unmounted. Pure logic; the service persists `toJSON()` and reloads it after a restart.
//
// - A repeated ID counts again (`docker cp` re-mounts with the running container's ID), so it
//   takes as many Unmounts as Mounts to release it (aws/amazon-ecs-agent PR #4425).
// - A Mount without ID (dvdcli, Docker < 1.12) counts under NO_ID.
// - Unmount of an ID with no count is a no-op: Docker may send it after a failed Mount or for
//   a volume it never mounted here; refusing would only wedge the caller.
// - After a restart, a volume that is mounted but has no persisted count gets one UNKNOWN_HOLDER
//   count. No Unmount can release that holder (its ID is unknown), so the volume stays mounted
//   until an operator unmounts it: a leaked mount is recoverable, an early unmount under a
//   running container is data loss (moby#17585, REX-Ray's in-memory counts).

export const NO_ID = '<no-id>';
export const UNKNOWN_HOLDER = '<unknown-holder>';

export interface PersistedCounts {
  version: 1;
  /** volume → ID → count (> 0). */
  volumes: Record<string, Record<string, number>>;
}

export interface ReconcileResult {
  /** Mounted volumes that got an UNKNOWN_HOLDER count. */
  adopted: string[];
  /** Volumes whose counts were dropped because nothing is mounted. */
  dropped: string[];
}

export class MountCounts {
  private readonly volumes = new Map<string, Map<string, number>>();

  /** Count one more Mount of `name` by `id`; returns the new total. */
  add(name: string, id: string | undefined): number {
    const holders = this.volumes.get(name) ?? new Map<string, number>();
    this.volumes.set(name, holders);
    const key = id ?? NO_ID;
    holders.set(key, (holders.get(key) ?? 0) + 1);
    return this.total(name);
  }

  /** Release one Mount of `name` by `id`; `released` is false when that ID held nothing. */
  release(name: string, id: string | undefined): { released: boolean; total: number } {
    const holders = this.volumes.get(name);
    const key = id ?? NO_ID;
    const count = holders?.get(key);
    if (holders === undefined || count === undefined) return { released: false, total: this.total(name) };
    if (count <= 1) holders.delete(key);
    else holders.set(key, count - 1);
    if (holders.size === 0) this.volumes.delete(name);
    return { released: true, total: this.total(name) };
  }

  total(name: string): number {
    let sum = 0;
    for (const count of this.volumes.get(name)?.values() ?? []) sum += count;
    return sum;
  }

  holders(name: string): Record<string, number> {
    return Object.fromEntries(this.volumes.get(name) ?? []);
  }

  names(): string[] {
    return [...this.volumes.keys()];
  }

  drop(name: string): void {
    this.volumes.delete(name);
  }

  /** Make the counts agree with what is really mounted (after a restart). */
  reconcile(mounted: ReadonlySet<string>): ReconcileResult {
    const result: ReconcileResult = { adopted: [], dropped: [] };
    for (const name of this.names()) {
      if (!mounted.has(name)) {
        this.drop(name);
        result.dropped.push(name);
      }
    }
    for (const name of mounted) {
      if (this.total(name) === 0) {
        this.add(name, UNKNOWN_HOLDER);
        result.adopted.push(name);
      }
    }
    return result;
  }

  toJSON(): PersistedCounts {
    const volumes: Record<string, Record<string, number>> = {};
    for (const [name, holders] of this.volumes) volumes[name] = Object.fromEntries(holders);
    return { version: 1, volumes };
  }

  /** Load persisted counts; entries that are not positive integer counts are skipped. */
  static fromJSON(value: unknown, isValidName: (name: string) => boolean = () => true): MountCounts {
    const counts = new MountCounts();
    if (typeof value !== 'object' || value === null || !('volumes' in value)) return counts;
    const volumes = value.volumes;
    if (typeof volumes !== 'object' || volumes === null) return counts;
    for (const [name, holders] of Object.entries(volumes as Record<string, unknown>)) {
      if (!isValidName(name) || typeof holders !== 'object' || holders === null) continue;
      for (const [id, count] of Object.entries(holders as Record<string, unknown>)) {
        if (typeof count !== 'number' || !Number.isInteger(count) || count <= 0) continue;
        const map = counts.volumes.get(name) ?? new Map<string, number>();
        counts.volumes.set(name, map);
        map.set(id, count);
      }
    }
    return counts;
  }
}
