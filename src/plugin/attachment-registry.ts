// Pool mode (`--pool DIR`, several plugin instances = several simulated nodes sharing one image
// pool): which node has a volume's image attached. A second node's attach fails unless asked to
// preempt, as EBS refuses to attach a volume that is attached to another instance; the storage
// layer is the hard fence under the sidecar's leases. The record is created with link(2), so
// two nodes racing for a free volume cannot both win.
import { readFile, rm } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { writeJsonAtomic } from '../common/atomic-file.js';
import { PluginError } from './plugin-errors.js';
import { isNotFound, type PluginLayout } from './plugin-layout.js';

export interface Attachment {
  node: string;
  /** RFC 3339. */
  since: string;
}

/** What an attach did: when the record became (or already was) this node's; `preempted`: the
 * node whose record it replaced. */
export interface AttachOutcome {
  at: number;
  preempted?: string;
}

function isExists(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EEXIST';
}

export class AttachmentRegistry {
  constructor(
    private readonly layout: PluginLayout,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async read(name: string): Promise<Attachment | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.layout.attachmentPath(name), 'utf8')) as Partial<Attachment>;
      return typeof parsed.node === 'string' ? { node: parsed.node, since: String(parsed.since ?? '') } : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Record this node as the volume's attachment; refuses when another node holds it. Answers
   * when the record was ours (epoch ms, read after the write: never before the attach) and,
   * for a preemption, whose record it replaced — the journal's account of the attach interval.
   */
  async attach(name: string, preempt: boolean): Promise<AttachOutcome> {
    const path = this.layout.attachmentPath(name);
    const mine: Attachment = { node: this.node, since: new Date(this.clock.now()).toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeJsonAtomic(path, mine, { exclusive: true });
        return { at: this.clock.now() };
      } catch (error) {
        if (!isExists(error)) throw error;
      }
      const current = await this.read(name);
      if (current === undefined) continue; // detached meanwhile: try to take it again
      if (current.node === this.node) return { at: this.clock.now() };
      if (!preempt) {
        throw new PluginError(
          'DVDI_PLUGIN_ATTACHED_ELSEWHERE',
          `volume ${name} is attached to node ${current.node} (since ${current.since}); mount with preempt=true to take it over`,
          { context: { volume: name, node: current.node }, exitCode: 4 },
        );
      }
      await writeJsonAtomic(path, mine);
      const at = this.clock.now();
      this.logger.warn({ volume: name, from: current.node }, 'preempted volume attachment');
      return { at, preempted: current.node };
    }
    throw new PluginError('DVDI_PLUGIN_BACKEND_FAILED', `volume ${name}: could not record the attachment (it kept changing)`, { context: { volume: name } });
  }

  /**
   * Drop the record if it is still this node's (a preempting peer's record is left alone).
   * Answers when it was dropped (epoch ms, read before the removal: never after the detach), or
   * undefined when there was no record of this node.
   */
  async detach(name: string): Promise<number | undefined> {
    const current = await this.read(name);
    if (current?.node !== this.node) return undefined;
    const at = this.clock.now();
    await rm(this.layout.attachmentPath(name), { force: true });
    return at;
  }
}
