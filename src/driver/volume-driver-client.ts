// The Docker Volume Plugin protocol client for one driver: discovery (through a PluginResolver,
// retried while the plugin is not there yet), Plugin.Activate once (success cached, failure
// not), the VolumeDriver methods with per-call time limits, retry of connection errors only,
// reply validation, and an observer hook for metrics. It knows nothing about tasks, refcounts
// or Redis. Failure semantics follow moby `pkg/plugins/client.go` and `daemon/volume/drivers`.
import type * as z from '../common/shape-check.js';
import { systemClock, type Clock } from '../common/clock.js';
import { AbortedError } from '../common/errors.js';
import { cleanExternalText, quoteExternal } from '../common/external-text.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { retry, type BackoffOptions } from '../common/retry.js';
import type { VolumeInfo, VolumeMethod } from './protocol-types.js';
import {
  DriverAbortedError,
  DriverBadReplyError,
  DriverError,
  DriverNotFoundError,
  DriverRefusedError,
  DriverTimeoutError,
  DriverUnreachableError,
  NotVolumeDriverError,
  scrubPluginText,
  type CallSite,
} from './driver-errors.js';
import { DEFAULT_PLUGIN_DIRS, DirectoryPluginResolver, type PluginResolver } from './plugin-discovery.js';
import { hostPathOf, type PluginEndpoint } from './plugin-endpoint.js';
import { postToPlugin, type PluginHttpReply } from './plugin-transport.js';
import { activateReply, capabilitiesReply, describeIssues, emptyReply, getReply, listReply, mountReply, pathReply, type volumeInfo as volumeInfoSchema } from './reply-schemas.js';

export type PluginMethod = VolumeMethod | 'Plugin.Activate';
export type CallOutcome = 'ok' | 'error' | 'timeout';
export type VolumeScope = 'local' | 'global';

export interface DriverCallEvent {
  driver: string;
  method: PluginMethod;
  outcome: CallOutcome;
  seconds: number;
}

export interface VolumeDriverClientOptions {
  driver: string;
  /** How to find the plugin; default: the legacy plugin directories `pluginDirs`. */
  resolver?: PluginResolver;
  /** Used only when no resolver is given (DVDI_PLUGIN_DIRS). */
  pluginDirs?: readonly string[];
  clock?: Clock;
  logger?: Logger;
  /** Create and Mount (DVDI_MOUNT_TIMEOUT_MS). Default 120 s, as Docker. */
  mountTimeoutMs?: number;
  /** Unmount (DVDI_UNMOUNT_TIMEOUT_MS). Default 60 s. */
  unmountTimeoutMs?: number;
  /** Every other call, Plugin.Activate included. Default 60 s. */
  callTimeoutMs?: number;
  /** Backoff for discovery and connection errors. Default 1 s doubling to 16 s, 30 s budget. */
  backoff?: Partial<BackoffOptions>;
  /** Told about every call (after it ends), for metrics. Must not throw; if it does, it is ignored. */
  onCall?: (event: DriverCallEvent) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface CapabilitiesResult {
  scope: VolumeScope;
  /** Why the scope is the `local` fallback rather than the plugin's answer. */
  fallback?: string;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxDelayMs: 16_000, budgetMs: 30_000 };
export const DEFAULT_MOUNT_TIMEOUT_MS = 120_000;
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class VolumeDriverClient {
  readonly driver: string;
  private readonly resolver: PluginResolver;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly backoff: BackoffOptions;
  private readonly timeouts: Record<PluginMethod, number>;
  private readonly onCall: ((event: DriverCallEvent) => void) | undefined;
  private activated: PluginEndpoint | undefined;
  private scope: CapabilitiesResult | undefined;

  constructor(options: VolumeDriverClientOptions) {
    this.driver = options.driver;
    this.resolver = options.resolver ?? new DirectoryPluginResolver(options.pluginDirs ?? DEFAULT_PLUGIN_DIRS);
    this.clock = options.clock ?? systemClock;
    // The name may be a store record's (the reconciler Unmounts what the store recorded).
    this.logger = (options.logger ?? silentLogger()).child({ driver: cleanExternalText(options.driver) });
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    const mount = options.mountTimeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS;
    const other = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.timeouts = {
      'Plugin.Activate': other,
      Create: mount,
      Mount: mount,
      Unmount: options.unmountTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      Remove: other,
      Path: other,
      Get: other,
      List: other,
      Capabilities: other,
    };
    for (const [method, ms] of Object.entries(this.timeouts)) {
      if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`timeout for ${method} must be a positive number of ms, got ${ms}`);
    }
    this.onCall = options.onCall;
  }

  /**
   * The plugin's own directories on the host, once it was activated: a managed plugin's
   * PropagatedMount (where every volume it mounts appears on the host). Empty for v1 plugins.
   */
  ownHostDirs(): readonly string[] {
    const pm = this.activated?.propagatedMount;
    return pm === undefined || pm.inPlugin === '' ? [] : [pm.onHost.replace(/\/+$/, '')];
  }

  /** Find the plugin, waiting (with backoff) while it is not there yet. */
  async discover(options: CallOptions = {}, site: CallSite = { driver: this.driver, method: 'Discovery' }): Promise<PluginEndpoint> {
    const started = this.clock.monotonic();
    return this.withRetry(site, options.signal, async () => {
      const endpoint = await this.resolver.resolve(this.driver);
      if (endpoint !== undefined) return endpoint;
      const waited = Math.round(this.clock.monotonic() - started);
      throw new DriverNotFoundError(site, `plugin not found: ${this.resolver.describe(this.driver)} (waited ${waited} ms)`);
    });
  }

  /**
   * Discovery plus `Plugin.Activate`, once: a success is cached for the life of the client, a
   * failure is not (the next call tries again, as Docker does). Returns the endpoint.
   */
  async activate(options: CallOptions = {}, caller?: CallSite): Promise<PluginEndpoint> {
    if (this.activated !== undefined) return this.activated;
    const endpoint = await this.discover(options, caller ?? { driver: this.driver, method: 'Discovery' });
    const site: CallSite = caller === undefined ? { driver: this.driver, method: 'Plugin.Activate' } : { ...caller, step: 'Plugin.Activate' };
    const reply = await this.observe('Plugin.Activate', () => this.exchange(endpoint, '/Plugin.Activate', {}, activateReply, site, this.timeouts['Plugin.Activate'], options.signal));
    const implementsList = reply.Implements ?? [];
    if (!implementsList.includes('VolumeDriver')) throw new NotVolumeDriverError(site, implementsList);
    this.logger.debug({ address: endpoint.address, source: endpoint.source, implements: implementsList }, 'volume plugin activated');
    this.activated = endpoint;
    return endpoint;
  }

  async create(name: string, opts?: Readonly<Record<string, string>>, options: CallOptions = {}): Promise<void> {
    const site: CallSite = { driver: this.driver, method: 'Create', volume: name };
    await this.call('Create', site, { Name: name, Opts: opts === undefined ? null : { ...opts } }, emptyReply, options, opts);
  }

  async remove(name: string, options: CallOptions = {}): Promise<void> {
    await this.call('Remove', { driver: this.driver, method: 'Remove', volume: name }, { Name: name }, emptyReply, options);
  }

  /**
   * Mount and return the host path of the mount point. `id` is the per-mount ID (Docker ≥ 1.12).
   * `preempt` adds `Opts: {"preempt": "true"}` to the request: not part of Docker's protocol
   * (plugins ignore unknown fields), honoured by the reference plugin's shared pool; REX-Ray
   * takes preemption from its own configuration (`mount.preempt`).
   */
  async mount(name: string, id?: string, options: CallOptions & { preempt?: boolean } = {}): Promise<string> {
    const site: CallSite = { driver: this.driver, method: 'Mount', volume: name };
    const request = {
      Name: name,
      ...(id === undefined ? {} : { ID: id }),
      ...(options.preempt === true ? { Opts: { preempt: 'true' } } : {}),
    };
    const { reply, endpoint } = await this.callWithEndpoint('Mount', site, request, mountReply, options);
    return hostPathOf(endpoint, checkedMountpoint(site, reply.Mountpoint));
  }

  async unmount(name: string, id?: string, options: CallOptions = {}): Promise<void> {
    const site: CallSite = { driver: this.driver, method: 'Unmount', volume: name };
    await this.call('Unmount', site, id === undefined ? { Name: name } : { Name: name, ID: id }, emptyReply, options);
  }

  /** The host path where the plugin has the volume mounted, or undefined when it reports none. */
  async path(name: string, options: CallOptions = {}): Promise<string | undefined> {
    const site: CallSite = { driver: this.driver, method: 'Path', volume: name };
    const { reply, endpoint } = await this.callWithEndpoint('Path', site, { Name: name }, pathReply, options);
    return reply.Mountpoint ? hostPathOf(endpoint, checkedMountpoint(site, reply.Mountpoint)) : undefined;
  }

  /**
   * The volume, or undefined when the plugin says it does not exist. As in moby's volume store,
   * a refusal (Err / non-200) or a null Volume means "no such volume". Unreachable plugins,
   * timeouts and malformed replies still throw: they say nothing about the volume.
   */
  async get(name: string, options: CallOptions = {}): Promise<VolumeInfo | undefined> {
    const site: CallSite = { driver: this.driver, method: 'Get', volume: name };
    // Only the Get reply itself speaks about the volume; a refused Plugin.Activate does not.
    const saysAbsent = (error: unknown): boolean => error instanceof DriverRefusedError && error.step === undefined;
    let result: { reply: z.infer<typeof getReply>; endpoint: PluginEndpoint };
    try {
      result = await this.callWithEndpoint('Get', site, { Name: name }, getReply, options, undefined, saysAbsent);
    } catch (error) {
      if (saysAbsent(error)) return undefined;
      throw error;
    }
    const volume = result.reply.Volume;
    return volume == null ? undefined : this.volumeInfo(result.endpoint, volume);
  }

  async list(options: CallOptions = {}): Promise<VolumeInfo[]> {
    const site: CallSite = { driver: this.driver, method: 'List' };
    const { reply, endpoint } = await this.callWithEndpoint('List', site, {}, listReply, options);
    return (reply.Volumes ?? []).map((volume) => this.volumeInfo(endpoint, volume));
  }

  /**
   * The plugin's scope. Capabilities is optional in the protocol: an error, an empty or an
   * unknown scope means `local` (moby `adapter.go`). The plugin's answer — including a refusal
   * or a malformed reply — is cached; unreachable and timeout are not.
   */
  async capabilities(options: CallOptions = {}): Promise<CapabilitiesResult> {
    if (this.scope !== undefined) return this.scope;
    const site: CallSite = { driver: this.driver, method: 'Capabilities' };
    let result: CapabilitiesResult;
    try {
      const reply = await this.call('Capabilities', site, {}, capabilitiesReply, options);
      const scope = reply.Capabilities?.Scope ?? '';
      result = scope === 'local' || scope === 'global' ? { scope } : { scope: 'local', fallback: scope === '' ? 'plugin reported no scope' : `unknown scope "${scrubPluginText(scope)}"` };
      this.scope = result;
    } catch (error) {
      if (!(error instanceof DriverError)) throw error;
      result = { scope: 'local', fallback: `${error.code}: ${error.message}` };
      if (error instanceof DriverRefusedError || error instanceof DriverBadReplyError) this.scope = result;
      this.logger.debug({ code: error.code }, 'volume plugin Capabilities failed; assuming local scope');
    }
    return result;
  }

  private volumeInfo(endpoint: PluginEndpoint, volume: z.infer<typeof volumeInfoSchema>): VolumeInfo {
    return {
      Name: volume.Name,
      ...(volume.Mountpoint ? { Mountpoint: hostPathOf(endpoint, volume.Mountpoint) } : {}),
      ...(volume.CreatedAt ? { CreatedAt: volume.CreatedAt } : {}),
      ...(volume.Status ? { Status: volume.Status } : {}),
    };
  }

  private async call<S extends z.ZodMiniType>(
    method: VolumeMethod,
    site: CallSite,
    payload: unknown,
    schema: S,
    options: CallOptions,
    opts?: Readonly<Record<string, string>>,
  ): Promise<z.infer<S>> {
    return (await this.callWithEndpoint(method, site, payload, schema, options, opts)).reply;
  }

  private async callWithEndpoint<S extends z.ZodMiniType>(
    method: VolumeMethod,
    site: CallSite,
    payload: unknown,
    schema: S,
    options: CallOptions,
    opts?: Readonly<Record<string, string>>,
    normalAnswer?: (error: unknown) => boolean,
  ): Promise<{ reply: z.infer<S>; endpoint: PluginEndpoint }> {
    this.logger.debug({ method, volume: site.volume === undefined ? undefined : cleanExternalText(site.volume), ...(opts ? { optionKeys: Object.keys(opts) } : {}) }, 'volume plugin call');
    return this.observe(
      method,
      async () => {
        const endpoint = await this.activate(options, site);
        const reply = await this.exchange(endpoint, `/VolumeDriver.${method}`, payload, schema, site, this.timeouts[method], options.signal, opts);
        return { reply, endpoint };
      },
      normalAnswer,
    );
  }

  /** One POST (retrying connection errors only) and the judgement of its reply. */
  private async exchange<S extends z.ZodMiniType>(
    endpoint: PluginEndpoint,
    path: string,
    payload: unknown,
    schema: S,
    site: CallSite,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    opts?: Readonly<Record<string, string>>,
  ): Promise<z.infer<S>> {
    const reply = await this.withRetry(site, signal, () => postToPlugin(endpoint, path, payload, { clock: this.clock, timeoutMs, site, signal }));
    return judgeReply(reply, schema, site, opts);
  }

  private async withRetry<T>(site: CallSite, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    try {
      return await retry({
        ...this.backoff,
        clock: this.clock,
        signal,
        retryable: (error) => (error instanceof DriverUnreachableError && error.retryable) || error instanceof DriverNotFoundError,
        onRetry: (error, attemptNo, delayMs) => {
          const code = error instanceof DriverError ? error.code : 'unknown';
          this.logger.warn({ method: site.method, volume: site.volume === undefined ? undefined : cleanExternalText(site.volume), code, attempt: attemptNo, delayMs }, 'volume plugin not reachable yet; retrying');
        },
        attempt,
      });
    } catch (error) {
      if (error instanceof AbortedError) throw new DriverAbortedError(site, error);
      throw error;
    }
  }

  private async observe<T>(method: PluginMethod, work: () => Promise<T>, normalAnswer?: (error: unknown) => boolean): Promise<T> {
    const started = this.clock.monotonic();
    let outcome: CallOutcome = 'ok';
    try {
      return await work();
    } catch (error) {
      if (!normalAnswer?.(error)) outcome = error instanceof DriverTimeoutError ? 'timeout' : 'error';
      throw error;
    } finally {
      const seconds = Math.max(0, (this.clock.monotonic() - started) / 1000);
      try {
        this.onCall?.({ driver: this.driver, method, outcome, seconds });
      } catch {
        // an observer's bug must not turn a good mount into a failure
      }
    }
  }
}

/** Linux PATH_MAX: no path the kernel can mount is longer. */
export const MAX_MOUNTPOINT_LENGTH = 4096;

/**
 * A Mountpoint the plugin answered, refused at the boundary when it cannot be a path anyone
 * should act on or print: longer than PATH_MAX, or holding control or bidi characters (which
 * would also forge log lines downstream). Which directories are acceptable is the mounter's rule.
 */
export function checkedMountpoint(site: CallSite, mountpoint: string): string {
  const problem =
    mountpoint.length > MAX_MOUNTPOINT_LENGTH
      ? `it is ${mountpoint.length} characters long (at most ${MAX_MOUNTPOINT_LENGTH})`
      : cleanExternalText(mountpoint, MAX_MOUNTPOINT_LENGTH) !== mountpoint
        ? 'it holds control or bidi-override characters'
        : undefined;
  if (problem === undefined) return mountpoint;
  throw new DriverBadReplyError(site, `Mountpoint ${quoteExternal(mountpoint)} is not a usable path: ${problem}; expected an absolute path of printable characters`);
}

/**
 * Docker's rule: a non-200 status (message from `{Err}` or else the raw body) or a 200 with a
 * non-empty `Err` is a refusal; otherwise the body must be JSON of the method's shape.
 */
export function judgeReply<S extends z.ZodMiniType>(reply: PluginHttpReply, schema: S, site: CallSite, opts?: Readonly<Record<string, string>>): z.infer<S> {
  let parsed: unknown;
  let parseError: unknown;
  try {
    parsed = JSON.parse(reply.body);
  } catch (error) {
    parseError = error;
  }
  if (reply.status !== 200) {
    const err = isRecord(parsed) && typeof parsed.Err === 'string' && parsed.Err !== '' ? parsed.Err : reply.body;
    throw new DriverRefusedError(site, reply.status, scrubPluginText(err, opts) || '(empty body)');
  }
  if (parseError !== undefined) {
    const snippet = quoteExternal(scrubPluginText(reply.body, opts), 80);
    throw new DriverBadReplyError(site, reply.body.trim() === '' ? 'empty body (expected JSON)' : `not JSON: ${snippet}`, parseError);
  }
  if (isRecord(parsed) && typeof parsed.Err === 'string' && parsed.Err !== '') {
    throw new DriverRefusedError(site, 200, scrubPluginText(parsed.Err, opts));
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new DriverBadReplyError(site, describeIssues(result.error));
  return result.data;
}
