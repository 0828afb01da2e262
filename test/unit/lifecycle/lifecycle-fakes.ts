// Fakes for the lifecycle's unit tests: a stepped clock (sleep moves time, never waits), the
// embedded store on a temp dir under that clock, a volume plugin and a mounter that keep their
// state in memory, and an in-memory ledger. All of them append to one event log, so a test can
// assert the order of the steps across them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../../src/common/clock.js';
import { AbortedError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { DriverAbortedError, DriverRefusedError } from '../../../src/driver/driver-errors.js';
import type { DriverRegistryPort, LedgerEntry, MountLedgerPort, MounterPort, VolumeDriverPort, VolumeRequest } from '../../../src/lifecycle/ports.js';
import type { LifecycleDeps } from '../../../src/lifecycle/volume-lifecycle.js';
import { EmbeddedRefcountStore } from '../../../src/refcount/embedded-refcount-store.js';

export type SteppedClock = Clock & { step(ms: number): void; slept: number[]; onSleep?: (ms: number) => void };

/** Time moves only by sleep() and step(): a wait of minutes takes microseconds. */
export function steppedClock(): SteppedClock {
  let offset = 0;
  const clock: SteppedClock = {
    slept: [],
    now: () => Date.UTC(2030, 0, 1) + offset,
    monotonic: () => offset,
    async sleep(ms, signal) {
      if (signal?.aborted) throw new AbortedError('sleep', signal.reason);
      clock.slept.push(ms);
      offset += ms;
      clock.onSleep?.(ms);
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new AbortedError('sleep', signal.reason);
    },
    step(ms) {
      offset += ms;
    },
  };
  return clock;
}

export type Events = string[];

type Hook = (volume: string, signal?: AbortSignal) => void | Promise<void>;

/** A volume plugin in memory: per-volume sets of mount IDs, Path while any is mounted. */
export class FakeDriver implements VolumeDriverPort {
  readonly volumes = new Set<string>();
  readonly mounts = new Map<string, Set<string>>();
  /** Called at the start of each method; may throw (a refusal) or abort the caller. */
  readonly hooks: Partial<Record<'get' | 'create' | 'mount' | 'unmount', Hook>> = {};
  constructor(
    private readonly events: Events,
    readonly name = 'fake',
  ) {}

  private async hook(method: 'get' | 'create' | 'mount' | 'unmount', volume: string, signal?: AbortSignal): Promise<void> {
    await this.hooks[method]?.(volume, signal);
    if (signal?.aborted) throw new DriverAbortedError({ driver: this.name, method: method[0]!.toUpperCase() + method.slice(1), volume });
  }

  async get(name: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    this.events.push(`Get ${name}`);
    await this.hook('get', name, options.signal);
    return this.volumes.has(name) ? { Name: name } : undefined;
  }

  async create(name: string, _opts: Readonly<Record<string, string>>, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.events.push(`Create ${name}`);
    await this.hook('create', name, options.signal);
    this.volumes.add(name);
  }

  async mount(name: string, id: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    this.events.push(`Mount ${name} ${id}`);
    await this.hook('mount', name, options.signal);
    const ids = this.mounts.get(name) ?? new Set<string>();
    ids.add(id);
    this.mounts.set(name, ids);
    return `/plugin/${name}`;
  }

  async unmount(name: string, id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.events.push(`Unmount ${name} ${id}`);
    await this.hook('unmount', name, options.signal);
    this.mounts.get(name)?.delete(id);
  }

  async path(name: string): Promise<string | undefined> {
    return (this.mounts.get(name)?.size ?? 0) > 0 ? `/plugin/${name}` : undefined;
  }

  mountedIds(name: string): string[] {
    return [...(this.mounts.get(name) ?? [])];
  }
}

export function refused(method: string): never {
  throw new DriverRefusedError({ driver: 'fake', method, volume: 'v' }, 500, 'refused by the test');
}

/** A mounter bound to a pretend root: binds are entries in a map. */
export class FakeMounter implements MounterPort {
  readonly root = '/fake-root';
  readonly binds = new Map<string, { source: string; readOnly: boolean }>();
  bindHook?: (target: string) => void | Promise<void>;
  constructor(private readonly events: Events) {}

  async volumePath(name: string): Promise<string> {
    return `${this.root}/${name}`;
  }

  async bind(source: string, target: string, options: { readOnly: boolean }): Promise<unknown> {
    this.events.push(`bind ${target}`);
    await this.bindHook?.(target);
    const existing = this.binds.get(target);
    if (existing !== undefined && (existing.source !== source || existing.readOnly !== options.readOnly)) throw new Error(`target busy: ${target}`);
    this.binds.set(target, { source, readOnly: options.readOnly });
    return undefined;
  }

  async unmountLazy(target: string): Promise<unknown> {
    this.events.push(`unbind ${target}`);
    this.binds.delete(target);
    return undefined;
  }

  async isMounted(target: string): Promise<boolean> {
    return this.binds.has(target);
  }

  async listBinds(): Promise<Array<{ name: string; path: string }>> {
    return [...this.binds.keys()].map((path) => ({ name: path.slice(this.root.length + 1), path }));
  }

  async listProbes(): Promise<string[]> {
    return [];
  }

  async removeProbe(): Promise<void> {}
}

export class MemoryLedger implements MountLedgerPort {
  readonly entries = new Map<string, LedgerEntry & { recordedAt: number }>();
  constructor(
    private readonly events: Events,
    private readonly clock: Clock,
  ) {}

  async record(entry: LedgerEntry): Promise<void> {
    this.events.push(`ledger+ ${entry.mountId}`);
    this.entries.set(entry.mountId, { ...entry, recordedAt: this.clock.now() });
  }

  async forget(entry: LedgerEntry): Promise<void> {
    this.events.push(`ledger- ${entry.mountId}`);
    this.entries.delete(entry.mountId);
  }

  async list(): Promise<Array<LedgerEntry & { recordedAt: number }>> {
    return [...this.entries.values()];
  }
}

export interface Rig extends LifecycleDeps {
  events: Events;
  clock: SteppedClock;
  store: EmbeddedRefcountStore;
  driver: FakeDriver;
  mounter: FakeMounter;
  ledger: MemoryLedger;
  drivers: DriverRegistryPort;
  close(): Promise<void>;
}

/** One node's fakes over a fresh embedded store. `storeDir` shares a store between rigs (two nodes). */
export async function rig(options: { storeDir?: string } = {}): Promise<Rig> {
  const events: Events = [];
  const clock = steppedClock();
  const dir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'dvdi-lifecycle-')));
  const store = new EmbeddedRefcountStore({ dir, clock, logger: silentLogger() });
  const driver = new FakeDriver(events);
  return {
    events,
    clock,
    store,
    driver,
    drivers: { driver: () => driver },
    mounter: new FakeMounter(events),
    ledger: new MemoryLedger(events, clock),
    logger: silentLogger(),
    undoTimeoutMs: 5000,
    async close() {
      await store.close();
      if (options.storeDir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

export function request(name: string, overrides: Partial<VolumeRequest> = {}): VolumeRequest {
  return { name, driver: 'fake', opts: {}, explicitCreate: false, access: 'exclusive', preempt: false, readOnly: false, ...overrides };
}
