// `--journal FILE`: one JSON line per Mount/Unmount, the history that multi-node invariant
// checkers read ("attach intervals of two nodes never overlap"). Appends are single write(2)
// calls with O_APPEND, so lines from several plugin instances sharing one file do not tear.
// A journal write failure is logged, never turned into an operation failure.
import { appendFile } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';

export interface JournalEntry {
  /** RFC 3339 with milliseconds. */
  time: string;
  node?: string;
  op: 'Mount' | 'Unmount';
  volume: string;
  /** The request's ID; null when the caller sent none. */
  id: string | null;
  result: 'ok' | 'error';
  error?: string;
  mountpoint?: string;
  /** Whether this call mounted/unmounted the filesystem (first Mount / last Unmount). */
  changed?: boolean;
  /** Pool mode, a Mount that attached: when the attachment record became this node's (RFC 3339;
   * `time` is when the whole Mount finished, which under load can be long after). */
  attachedAt?: string;
  /** Pool mode: the node whose attachment this Mount's preemption replaced. */
  preempted?: string;
  /** Pool mode, an Unmount that dropped this node's attachment record: just before it did. */
  detachedAt?: string;
}

export class MountJournal {
  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly node?: string,
  ) {}

  async append(entry: Omit<JournalEntry, 'time' | 'node'>): Promise<void> {
    const line: JournalEntry = {
      time: new Date(this.clock.now()).toISOString(),
      ...(this.node === undefined ? {} : { node: this.node }),
      ...entry,
    };
    try {
      await appendFile(this.path, `${JSON.stringify(line)}\n`, { encoding: 'utf8', mode: 0o644 });
    } catch (error) {
      this.logger.warn({ err: error, journal: this.path }, 'could not append to the mount journal');
    }
  }
}
