// `dvdi plugin --faults FILE`: test-only fault injection, for the crash-point and chaos suites
// ("a plugin that errors, hangs or restarts"). FILE is read on every request, so a test can
// change the faults of a running plugin; a missing or unreadable file means no faults.
// Format: {"Mount": {"delayMs": 2000}, "Unmount": {"error": "disk on fire"}, "Get": {"hang": true}}
// A delayed request is still carried out after the delay, even if the client has gone: that is
// the window "the plugin mounted, the sidecar died before it heard".
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import * as z from '../common/shape-check.js';

const faultSchema = z.object({
  delayMs: z.optional(z.int().check(z.minimum(0), z.maximum(600_000))),
  error: z.optional(z.string().check(z.minLength(1))),
  hang: z.optional(z.boolean()),
});
const faultsSchema = z.record(z.string(), faultSchema);
export type Fault = z.infer<typeof faultSchema>;

export class FaultInjector {
  constructor(private readonly path: string) {}

  async faultFor(endpoint: string): Promise<Fault | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch {
      return undefined;
    }
    const parsed = faultsSchema.safeParse(JSON.parse(text || '{}'));
    if (!parsed.success) return undefined;
    const method = endpoint.replace(/^VolumeDriver\./, '');
    return parsed.data[method] ?? parsed.data[endpoint];
  }

  /** Apply the fault before the request runs: wait, hang forever, or answer with an error. */
  async apply(endpoint: string): Promise<{ error?: string; hang?: boolean }> {
    const fault = await this.faultFor(endpoint).catch(() => undefined);
    if (fault === undefined) return {};
    if (fault.delayMs !== undefined) await delay(fault.delayMs);
    return { ...(fault.error === undefined ? {} : { error: fault.error }), ...(fault.hang ? { hang: true } : {}) };
  }
}
