// The Redis RefcountStore: the refcount model (refcount-model.ts) run as one Lua script per
// operation (lua/, one round trip, atomic), for many nodes sharing one Redis. Owns the key
// layout, the ioredis connection settings (no offline queue, no replay after a reconnect, a
// command timeout), the volume index, and the store-liveness marker behind the quarantine after
// a data loss.
//
// Keys (every script touches one key, so each runs on Redis Cluster too):
//   <prefix>:{<driver>/<name>}:vol   one volume's record, JSON; always with an expiry (see
//                                    lua/includes/volume-record.lua: ≥ longest lease + 60 s while
//                                    holders exist, 7 days from the last write otherwise)
//   <prefix>:{node:<node>}:vols      the node's index: sorted set of the volume ids (JSON
//                                    [driver, name]) in which the node may have a presence, scored
//                                    by last touch (lua/includes/node-index.lua); what reap(node)
//                                    and listNode(node) walk, so a node's timers cost O(its own
//                                    volumes). Touched before every acquire and renew; pruned by
//                                    reap; 7 days' expiry from the last touch
//   <prefix>:volumes                 set of volume ids for the cluster-wide list() only (on
//                                    demand, read in SSCAN pages); no expiry; vanished members are
//                                    dropped by list(); rebuildIndexes() recreates it (and every
//                                    node index) from the records
//   <prefix>:alive                   Redis TIME (ms) at which this Redis was first seen holding our
//                                    data; no expiry. Absent after a data loss (and on a brand-new
//                                    Redis): for one lease TTL after it is re-created, no exclusive
//                                    grant goes to a node the record does not know — a new Redis
//                                    therefore also waits one TTL once.
//   <prefix>:{<tag>}:alive           on Redis Cluster, the same marker once per hash slot (<tag> is
//                                    the first decimal string that hashes to the slot), read for a
//                                    volume from its record's slot: a data loss is per master there
//                                    (one master restarted empty, its slots lost), so each slot
//                                    notices its own; a new cluster waits one TTL once per slot.
//
// Redis Cluster (ioredis's Cluster client): every script names one key (one slot), MOVED and
// ASK during a reshard are followed by the client, and a failover (replica promoted, possibly
// missing the last writes) looks to the callers like a Sentinel failover: a record lost with the
// last writes answers renew `missing` (re-registration), a slot that lost its data quarantines.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { DvdiError } from '../common/errors.js';
import { cleanExternalText as clean } from '../common/external-text.js';
import type { Logger } from '../common/logger.js';
import { VERSION } from '../common/version.js';
import { loadLuaScripts, type LuaScript } from './lua-script-loader.js';
import * as model from './refcount-model.js';
import type { VolumeRecord } from './refcount-model.js';
import { StoreClosedError, StoreMisuseError, StoreRecordInvalidError, StoreReplyError, StoreTimeoutError, StoreUnavailableError } from './refcount-errors.js';
import type {
  AcquireRequest,
  AcquireResult,
  ClaimUnmountResult,
  HolderRef,
  MarkResult,
  RefcountStore,
  ReleaseResult,
  RenewResult,
  VolumeKey,
  VolumeView,
} from './refcount-store.js';

const BACKEND = 'redis';
const CLUSTER_BACKEND = 'redis-cluster';
const SLOTS = 16384;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
/** Volumes inspected or reaped at once by list(), listNode() and reap(). */
const SCAN_CONCURRENCY = 32;
/** Members asked for per SSCAN / ZSCAN page. */
const PAGE = 500;

/** Refusal codes of the scripts (negative integers; see each script's header). */
const ScriptRefusal = {
  BadTtl: -1,
  UnmounterAcquire: -2,
  BadRecord: -3,
  BadReclaim: -4,
} as const;

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisRefcountStoreOptions {
  /** redis:// or rediss:// URL. With sentinels it supplies only user, password, db and TLS. */
  url?: string;
  /** Sentinel addresses; needs sentinelName. */
  sentinels?: readonly HostPort[];
  sentinelName?: string;
  /** Redis Cluster seed nodes; the URL then supplies only user, password and TLS. */
  clusterNodes?: readonly HostPort[];
  /** Key prefix (DVDI_REDIS_PREFIX). */
  prefix: string;
  logger: Logger;
  /** Bound on every store operation (default 2000 ms); a late answer is an error, never waited for. */
  commandTimeoutMs?: number;
  /** Extra TLS options (a private CA, …) merged over what the URL implies. */
  tls?: ConnectionOptions;
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

let slotTagCache: string[] | undefined;
/** For each hash slot, the shortest decimal string whose {tag} hashes to it (computed once,
 * ~200k CRC16s, only on Redis Cluster). */
function slotTags(): string[] {
  if (slotTagCache === undefined) {
    const tags = new Array<string>(SLOTS);
    let found = 0;
    for (let i = 0; found < SLOTS; i++) {
      const slot = calculateSlot(String(i));
      if (tags[slot] === undefined) {
        tags[slot] = String(i);
        found += 1;
      }
    }
    slotTagCache = tags;
  }
  return slotTagCache;
}

/** The Cluster liveness marker of one hash slot under `prefix`. */
export function slotMarkerKeyOf(prefix: string, slot: number): string {
  return `${prefix}:{${slotTags()[slot]!}}:alive`;
}

/** How many hash slots a Redis Cluster has. */
export const CLUSTER_SLOTS = SLOTS;

let scriptCache: Map<string, LuaScript> | undefined;
function scripts(): Map<string, LuaScript> {
  scriptCache ??= loadLuaScripts();
  return scriptCache;
}

/** The command name a script is registered under: versioned, so that two sidecar versions
 * sharing a Redis (a rolling upgrade) never run each other's scripts under one name. */
export function scriptCommandName(name: string): string {
  return `dvdi_${name}_v${VERSION.replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** ioredis options shared by the plain and the Sentinel connection. */
function connectionOptions(commandTimeoutMs: number, logger: Logger): RedisOptions {
  return {
    // Commands fail at once while disconnected instead of waiting in a queue: a renew that ran
    // late, after its lease may have ended, could revive nothing but would mislead the caller.
    enableOfflineQueue: false,
    // A command in flight when the connection drops is failed, not resent after the reconnect.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // A backstop behind the store's own per-operation timeout (which is what callers see).
    commandTimeout: commandTimeoutMs + 500,
    connectTimeout: Math.max(1000, commandTimeoutMs),
    // Reconnect for ever, with a capped backoff: 100 ms, 200 ms, … 2 s.
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000),
    // A primary demoted to replica answers writes with READONLY (the first word of a Redis error
    // reply is its code): reconnect, which asks the sentinels for the new primary. Not resent.
    reconnectOnError: (error: Error) => error.message.split(' ', 1)[0] === 'READONLY',
    lazyConnect: false,
    // No connectionName: CLIENT SETNAME would be one more command a least-privilege ACL user
    // needs. Commands used: EVALSHA (EVAL after NOSCRIPT), SADD, SREM, SSCAN, ZSCAN, EXISTS, PING,
    // INFO (ioredis' ready check), QUIT, and inside the scripts GET, SET, TIME, ZADD, ZSCORE, ZREM,
    // PEXPIRE — on `<prefix>:*` only. rebuildIndexes() also needs SCAN and GET; on Redis Cluster
    // the client also sends CLUSTER SLOTS (ioredis' topology discovery).
    ...(logger.isLevelEnabled('trace') ? { showFriendlyErrorStack: true } : {}),
  };
}

/** The Sentinel connection's credentials, db and TLS from the URL (its host is not used). */
function sentinelOptionsFromUrl(url: string | undefined): RedisOptions {
  if (url === undefined) return {};
  const parsed = new URL(url);
  const out: RedisOptions = {};
  if (parsed.username !== '') out.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') out.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '') out.db = Number(db);
  if (parsed.protocol === 'rediss:') {
    out.tls = {};
    out.enableTLSForSentinelMode = true;
  }
  return out;
}

/** Builds the client and the store. The connection is made in the background: `waitReady()` to
 * wait for it; operations before it fail fast with StoreUnavailableError. */
export function createRedisRefcountStore(options: RedisRefcountStoreOptions): RedisRefcountStore {
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const base = connectionOptions(commandTimeoutMs, options.logger);
  let redis: Redis | Cluster;
  if (options.clusterNodes !== undefined && options.clusterNodes.length > 0) {
    const fromUrl = sentinelOptionsFromUrl(options.url);
    if (fromUrl.db !== undefined && fromUrl.db !== 0) throw new StoreMisuseError('Redis Cluster has only database 0', { db: fromUrl.db });
    const tls = options.tls === undefined ? fromUrl.tls : { ...fromUrl.tls, ...options.tls };
    const retry = (attempt: number): number => Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000);
    redis = new Cluster(
      options.clusterNodes.map((n) => ({ host: n.host, port: n.port })),
      {
        // The per-node connections: the same bounds as a single server's, credentials and TLS
        // from the URL. ioredis keeps its own offline queue per node off only at the top level.
        redisOptions: {
          ...base,
          ...(fromUrl.username === undefined ? {} : { username: fromUrl.username }),
          ...(fromUrl.password === undefined ? {} : { password: fromUrl.password }),
          ...(tls === undefined ? {} : { tls }),
          // MOVED after a failover is the Cluster client's business, not a reconnect.
          reconnectOnError: null,
        },
        enableOfflineQueue: false,
        // ioredis' ready check sends CLUSTER INFO to a random master and, with the offline queue
        // off, is refused while that master's connection is still being made (the node
        // connections connect at once: lazyConnect false). It then reconnects from scratch, and
        // under load it lost that race again and again (a store not ready after 10 s on a healthy
        // cluster). ping() asks every master instead, through its own connection, which waits for
        // the connection rather than refusing.
        enableReadyCheck: false,
        // Every command goes to the master of its slot: leases are never read from a replica.
        scaleReads: 'master',
        // MOVED / ASK (a reshard, a failover) are followed; bounded, each within the op's deadline.
        maxRedirections: 16,
        retryDelayOnMoved: 0,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: Math.max(1000, commandTimeoutMs),
        // Learn a new topology (failover, reshard) within seconds even without a redirect.
        slotsRefreshInterval: 5000,
        clusterRetryStrategy: retry,
      },
    );
  } else if (options.sentinels !== undefined && options.sentinels.length > 0) {
    if (options.sentinelName === undefined) throw new StoreMisuseError('Redis sentinels given without a master name', { sentinels: options.sentinels.length });
    const fromUrl = sentinelOptionsFromUrl(options.url);
    redis = new Redis({
      ...base,
      ...fromUrl,
      ...(options.tls === undefined ? {} : { tls: { ...fromUrl.tls, ...options.tls } }),
      sentinels: options.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: options.sentinelName,
      sentinelRetryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000),
      sentinelCommandTimeout: commandTimeoutMs,
    });
  } else if (options.url !== undefined) {
    // ioredis parses user, password, db and rediss:// (TLS) from the URL itself.
    const tls = options.tls === undefined ? {} : { tls: { ...options.tls } };
    redis = new Redis(options.url, { ...base, ...tls });
  } else {
    throw new StoreMisuseError('the Redis store needs a URL or sentinels', {});
  }
  return new RedisRefcountStore(redis, { prefix: options.prefix, logger: options.logger, commandTimeoutMs });
}

export class RedisRefcountStore implements RefcountStore {
  readonly backend: string;
  readonly prefix: string;
  private readonly redis: Redis | Cluster;
  private readonly logger: Logger;
  private readonly commandTimeoutMs: number;
  private closed = false;
  /** Redis Cluster: the per-node connections made and not yet ended (see the constructor). */
  private readonly nodeConnections = new Set<Redis>();

  constructor(redis: Redis | Cluster, options: { prefix: string; logger: Logger; commandTimeoutMs?: number }) {
    this.redis = redis;
    this.backend = redis instanceof Cluster ? CLUSTER_BACKEND : BACKEND;
    this.prefix = options.prefix;
    this.logger = options.logger;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    for (const script of scripts().values()) {
      // defineCommand: EVALSHA, falling back to EVAL on NOSCRIPT (after SCRIPT FLUSH, a restart
      // or a failover to a server that never saw the script).
      redis.defineCommand(scriptCommandName(script.name), { numberOfKeys: script.numberOfKeys, lua: script.lua });
    }
    if (redis instanceof Cluster) {
      // Every per-node connection the Cluster client makes, until it ends: ioredis's pool drops a
      // node by key when *a* connection of that key ends, so an old connection that ends after
      // its replacement was made (a master killed, back at once as a replica) takes the new one
      // out of the pool without closing it. Nothing uses it any more, but it stays connected and
      // keeps the process alive after close(): `dvdi reconcile` printed its report and never
      // exited (chaos, cluster seed 6006 under load).
      redis.on('+node', (node: Redis) => {
        this.nodeConnections.add(node);
        node.once('end', () => this.nodeConnections.delete(node));
      });
    }
    let down = false;
    redis.on('error', (error: Error) => this.logger.debug({ err: error }, 'redis connection error'));
    redis.on('ready', () => {
      if (down) this.logger.info('redis connection ready again');
      down = false;
    });
    redis.on('close', () => {
      if (!down && !this.closed) this.logger.warn('redis connection lost; reconnecting');
      down = true;
    });
  }

  // ------------------------------------------------------------ keys

  volumeKey(volume: VolumeKey): string {
    // One hash tag per volume: the record's one key decides the slot.
    return `${this.prefix}:{${volume.driver}/${volume.name}}:vol`;
  }

  /** The node's index; its own hash tag, so it lives in one slot. */
  nodeIndexKey(node: string): string {
    return `${this.prefix}:{node:${node}}:vols`;
  }

  get indexKey(): string {
    return `${this.prefix}:volumes`;
  }

  get markerKey(): string {
    return `${this.prefix}:alive`;
  }

  /** The liveness marker that speaks for `volume`'s record: the one marker of a single Redis, or
   * on a Cluster the marker of the record's hash slot. */
  markerKeyFor(volume: VolumeKey): string {
    if (!(this.redis instanceof Cluster)) return this.markerKey;
    return this.slotMarkerKey(calculateSlot(this.volumeKey(volume)));
  }

  /** The marker key of one hash slot (Cluster). */
  slotMarkerKey(slot: number): string {
    return slotMarkerKeyOf(this.prefix, slot);
  }

  // ------------------------------------------------------------ operations

  acquire(request: AcquireRequest): Promise<AcquireResult> {
    model.checkTtl(request.ttlMs, request);
    return this.op('acquire', async () => {
      // The marker's age only matters where quarantine can apply (exclusive), and a reclaim must
      // (re)create it, so that other nodes wait one TTL from the moment a loss is noticed.
      const storeAge = request.mode === 'exclusive' || request.reclaim !== undefined ? String(await this.markerAge(request)) : '';
      // The node's index is another slot, so it is written outside the script, and first: a
      // crash right after the script cannot leave a presence that the node's reap never visits.
      const member = model.volumeId(request);
      await this.touchNodeIndex(request.node, member);
      const reply = await this.script('acquire', this.volumeKey(request), [
        request.driver,
        request.name,
        request.node,
        request.token,
        request.task,
        request.mode,
        request.preempt ? '1' : '0',
        request.ttlMs,
        model.orphanGraceOf(request),
        storeAge,
        request.reclaim === undefined ? '' : JSON.stringify(request.reclaim),
      ]);
      if (!Array.isArray(reply)) return this.decode<AcquireResult>('acquire', reply, request);
      const [json] = reply as unknown[];
      // The cluster-wide index only serves list() (`dvdi status`). Added on every acquire, not
      // only when the record is created: on Redis Cluster the index's slot may lose a write
      // (failover, a master restarted from its AOF) while the record's slot keeps it, and a
      // volume missing from the index is missing from status while it is held (chaos seed
      // 6006 on cluster). The node's sweep re-adds what its own node holds (reap).
      await this.redis.sadd(this.indexKey, member);
      return this.decode<AcquireResult>('acquire', json, request);
    });
  }

  markMounted(ref: HolderRef, mountpoint: string): Promise<MarkResult> {
    return this.op('markMounted', async () => this.decode<MarkResult>('markMounted', await this.script('markMounted', this.volumeKey(ref), [ref.node, ref.token, mountpoint]), ref));
  }

  abortMount(ref: HolderRef): Promise<MarkResult> {
    return this.op('abortMount', async () => this.decode<MarkResult>('abortMount', await this.script('abortMount', this.volumeKey(ref), [ref.node, ref.token]), ref));
  }

  renew(ref: HolderRef, ttlMs: number): Promise<RenewResult> {
    model.checkTtl(ttlMs, ref);
    return this.op('renew', async () => {
      // Touching the node's index on every renew keeps it complete even where the index alone
      // was lost (on Redis Cluster its slot may fail over without the record's): within one
      // renew interval every live holder's volume is indexed again, before the sweep's grace for
      // an unexplained bind (one lease TTL) runs out. Sent together: one round trip.
      const [, reply] = await Promise.all([this.touchNodeIndex(ref.node, model.volumeId(ref)), this.script('renew', this.volumeKey(ref), [ref.node, ref.token, ttlMs])]);
      return this.decode<RenewResult>('renew', reply, ref);
    });
  }

  release(ref: HolderRef): Promise<ReleaseResult> {
    return this.op('release', async () => this.decode<ReleaseResult>('release', await this.script('release', this.volumeKey(ref), [ref.node, ref.token]), ref));
  }

  markUnmounted(ref: HolderRef): Promise<MarkResult> {
    return this.op('markUnmounted', async () => this.decode<MarkResult>('markUnmounted', await this.script('markUnmounted', this.volumeKey(ref), [ref.node, ref.token]), ref));
  }

  claimUnmount(ref: HolderRef, ttlMs: number): Promise<ClaimUnmountResult> {
    model.checkTtl(ttlMs, ref);
    return this.op('claimUnmount', async () =>
      this.decode<ClaimUnmountResult>('claimUnmount', await this.script('claimUnmount', this.volumeKey(ref), [ref.node, ref.token, ttlMs]), ref),
    );
  }

  /** One reap script per volume of the node's index (each record its own slot); entries whose
   * record shows no presence of the node any more are pruned (after the index grace). The
   * volumes the node is still present in go back into the cluster-wide index, one SADD a page:
   * an entry lost there (another slot than the record's) is restored within a sweep period, at
   * a cost of the node's own volumes. */
  reap(node: string): Promise<VolumeKey[]> {
    return this.op('reap', async () => {
      const orphaned: VolumeKey[] = [];
      for await (const volumes of this.nodeIndexPages(node)) {
        const present: string[] = [];
        await eachLimited(volumes, SCAN_CONCURRENCY, async (volume) => {
          const reply = await this.script('reap', this.volumeKey(volume), [node]);
          if (reply === 0 || reply === 1) present.push(model.volumeId(volume));
          if (reply === 1) orphaned.push(volume);
          else if (reply === 2 || reply === 3) await this.script('pruneNodeIndex', this.nodeIndexKey(node), [model.volumeId(volume)]);
          else if (typeof reply === 'number' && reply < 0) throw this.refusal('reap', reply, volume, { volume: volume.name, node });
          else if (reply !== 0) throw new StoreReplyError(this.backend, 'reap', `unexpected reply ${String(reply)}`);
        });
        // Best effort: the reap's own work is done, and a failed repair of the status index
        // (its slot failing over right now) must not throw away the orphans found.
        if (present.length > 0) {
          await this.redis.sadd(this.indexKey, ...present).catch((error: unknown) => this.logger.debug({ err: error, volumes: present.length }, 'could not re-add volumes to the cluster-wide index; the next sweep tries again'));
        }
      }
      return orphaned.sort(byKey);
    });
  }

  inspect(volume: VolumeKey): Promise<VolumeView | undefined> {
    return this.op('inspect', async () => {
      const found = await this.read(volume);
      return found && model.view(found.record, found.now);
    });
  }

  /** Every active volume, read page by page (SSCAN of the cluster-wide index): for `dvdi status`
   * only. Bounded by the command timeout per page, not per call. */
  async list(): Promise<VolumeView[]> {
    if (this.closed) throw new StoreClosedError(this.backend);
    const views: VolumeView[] = [];
    let cursor = '0';
    do {
      const page = await this.op('list', async () => {
        const [next, members] = await this.redis.sscan(this.indexKey, cursor, 'COUNT', PAGE);
        const found: VolumeView[] = [];
        await eachLimited(this.parseMembers(members, this.indexKey), SCAN_CONCURRENCY, async (volume) => {
          const record = await this.read(volume);
          // A member whose record vanished (expired idle, lost) is dropped from the index.
          if (record === undefined) await this.unindex(volume);
          else if (model.isActive(record.record)) found.push(model.view(record.record, record.now));
        });
        return { next, found };
      });
      cursor = page.next;
      views.push(...page.found);
    } while (cursor !== '0');
    return views.sort(byKey);
  }

  /** The volumes of the node's index in which the node has a presence. */
  listNode(node: string): Promise<VolumeView[]> {
    return this.op('listNode', async () => {
      const views: VolumeView[] = [];
      for await (const volumes of this.nodeIndexPages(node)) {
        await eachLimited(volumes, SCAN_CONCURRENCY, async (volume) => {
          const found = await this.read(volume);
          if (found && model.hasPresence(found.record, node)) views.push(model.view(found.record, found.now));
        });
      }
      return views.sort(byKey);
    });
  }

  /** Of `volumes`, those whose record shows a presence of `node`, each touched back into the
   * node's index (a no-op where it is there): see RefcountStore.reindexNode. */
  reindexNode(node: string, volumes: readonly VolumeKey[]): Promise<VolumeView[]> {
    return this.op('reindexNode', async () => {
      const unique = [...new Map(volumes.map((v) => [model.volumeId(v), { driver: v.driver, name: v.name }])).values()];
      const views: VolumeView[] = [];
      await eachLimited(unique, SCAN_CONCURRENCY, async (volume) => {
        const found = await this.read(volume);
        if (!found || !model.hasPresence(found.record, node)) return;
        await this.touchNodeIndex(node, model.volumeId(volume));
        views.push(model.view(found.record, found.now));
      });
      return views.sort(byKey);
    });
  }

  /**
   * Recreate the cluster-wide index and every node's index from the records themselves (a SCAN
   * of every master for `<prefix>:{*}:vol`): after an index was lost without its records (a
   * Cluster slot that failed over with lost writes, a key deleted by hand). On demand only; its
   * cost is O(keys in the database). Returns how many records it indexed.
   */
  async rebuildIndexes(): Promise<number> {
    if (this.closed) throw new StoreClosedError(this.backend);
    let indexed = 0;
    for (const server of this.masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await this.op('rebuildIndexes', () => server.scan(cursor, 'MATCH', `${escapeGlob(this.prefix)}:{*}:vol`, 'COUNT', PAGE));
        cursor = next;
        for (const key of keys) {
          await this.op('rebuildIndexes', async () => {
            const raw = await this.redis.get(key);
            if (raw === null) return;
            let record: VolumeRecord;
            try {
              record = this.parseRecord(raw, { driver: '?', name: key });
            } catch (error) {
              this.logger.warn({ key: clean(key, 512), err: error }, 'not indexing a malformed record');
              return;
            }
            const member = model.volumeId(record);
            if (this.volumeKey(record) !== key) return;
            await this.redis.sadd(this.indexKey, member);
            const nodes = new Set([...record.holders.map((h) => h.node), ...record.nodes.filter((n) => n.state !== 'absent').map((n) => n.node)]);
            for (const node of nodes) await this.touchNodeIndex(node, member);
            indexed += 1;
          });
        }
      } while (cursor !== '0');
    }
    return indexed;
  }

  /** True when the server answers PING; on a Cluster, when every master does (so the first
   * commands do not meet a master whose connection is still being made). */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    const limitMs = Math.min(this.commandTimeoutMs, 1000);
    try {
      // A connection still being made is waited for, within the ping's limit: with the offline
      // queue off a PING sent before it is ready fails at once, and the start-up wait would
      // sleep before the next (test/integration/refcount/redis-store-connect.test.ts).
      if (this.redis.status !== 'ready' && !(await this.connectionReady(limitMs))) return false;
      const answers = await withTimeout(this.pingTargets(), limitMs, () => new StoreTimeoutError(this.backend, 'ping', limitMs));
      return answers.length > 0 && answers.every((answer) => answer === 'PONG');
    } catch (error) {
      this.logger.debug({ err: error }, 'redis ping failed');
      return false;
    }
  }

  private async pingTargets(): Promise<string[]> {
    if (!(this.redis instanceof Cluster)) return [await this.redis.ping()];
    if (this.redis.status !== 'ready') return [];
    return Promise.all(this.redis.nodes('master').map((master) => master.ping()));
  }

  /** Resolves true once the connection is ready and the store answers PING (on a Cluster: every
   * master), false after `timeoutMs`; for start-up and tests. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    if (!(await this.connectionReady(timeoutMs))) return false;
    for (;;) {
      if (await this.ping()) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }

  private async connectionReady(timeoutMs: number): Promise<boolean> {
    if (this.redis.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // QUIT lets replies in flight arrive; bounded, since the server may be unreachable.
      if (this.redis.status === 'ready') await withTimeout(this.redis.quit(), this.commandTimeoutMs, () => new StoreTimeoutError(this.backend, 'quit', this.commandTimeoutMs));
    } catch (error) {
      this.logger.debug({ err: error }, 'redis quit failed; disconnecting');
    } finally {
      this.redis.disconnect(false);
      // What the Cluster client lost track of (see the constructor); its own were disconnected above.
      for (const node of this.nodeConnections) node.disconnect(false);
      this.nodeConnections.clear();
    }
  }

  // ------------------------------------------------------------ internals

  /** Age of the liveness marker, creating it (age 0) when absent. */
  private async markerAge(volume: VolumeKey): Promise<number> {
    const age = await this.script('ensureMarker', this.markerKeyFor(volume), []);
    if (typeof age !== 'number' || age < 0) throw new StoreReplyError(this.backend, 'ensureMarker', `not an age: ${String(age)}`);
    return age;
  }

  private async read(volume: VolumeKey): Promise<{ record: VolumeRecord; now: number } | undefined> {
    const reply = await this.script('inspectVolume', this.volumeKey(volume), []);
    if (typeof reply === 'number') throw this.refusal('inspect', reply, volume, { volume: volume.name });
    if (!Array.isArray(reply) || typeof reply[1] !== 'number') throw new StoreReplyError(this.backend, 'inspect', 'not [record, now]');
    const [raw, now] = reply as [unknown, number];
    if (raw === null) return undefined;
    if (typeof raw !== 'string') throw new StoreReplyError(this.backend, 'inspect', 'record is not a string');
    return { record: this.parseRecord(raw, volume), now };
  }

  /** The servers holding data: this one, or every master of a Cluster. */
  private masters(): Redis[] {
    return this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
  }

  private async touchNodeIndex(node: string, member: string): Promise<void> {
    await this.script('touchNodeIndex', this.nodeIndexKey(node), [member]);
  }

  /** The node's index in ZSCAN pages (a node's index is small; paged all the same, bounded). */
  private async *nodeIndexPages(node: string): AsyncGenerator<VolumeKey[]> {
    const key = this.nodeIndexKey(node);
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.zscan(key, cursor, 'COUNT', PAGE);
      cursor = next;
      // ZSCAN answers member, score, member, score, …; a member may repeat across pages.
      const members = [...new Set(flat.filter((_, i) => i % 2 === 0))];
      yield this.parseMembers(members, key);
    } while (cursor !== '0');
  }

  private parseMembers(members: readonly string[], index: string): VolumeKey[] {
    const volumes: VolumeKey[] = [];
    for (const member of members) {
      const volume = parseVolumeId(member);
      if (volume) volumes.push(volume);
      else this.logger.warn({ member: clean(member), index: clean(index, 512) }, 'ignoring a foreign member of a volume index');
    }
    return volumes;
  }

  /** Drop a vanished volume from the index. An acquire may recreate the record meanwhile (it
   * adds it back after its script); re-check after removing so that we never drop a live one. */
  private async unindex(volume: VolumeKey): Promise<void> {
    const member = model.volumeId(volume);
    await this.redis.srem(this.indexKey, member);
    if ((await this.redis.exists(this.volumeKey(volume))) === 1) await this.redis.sadd(this.indexKey, member);
  }

  /** A record the inspect script already shape-checked, checked again here (the same rules,
   * refcount-model.ts recordShapeProblem) before it is believed. */
  private parseRecord(raw: string, volume: VolumeKey): VolumeRecord {
    let parsed: unknown;
    try {
      parsed = model.normalizeLuaLists(JSON.parse(raw));
    } catch {
      throw new StoreRecordInvalidError(this.backend, 'inspect', volume, this.volumeKey(volume), 'not JSON');
    }
    const problem = model.recordShapeProblem(parsed);
    if (problem !== undefined) throw new StoreRecordInvalidError(this.backend, 'inspect', volume, this.volumeKey(volume), problem);
    return parsed as VolumeRecord;
  }

  private script(name: string, key: string, args: (string | number)[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn | undefined>)[scriptCommandName(name)];
    if (fn === undefined) throw new StoreReplyError(this.backend, name, 'script not registered');
    return fn.call(this.redis, key, ...args);
  }

  private decode<R extends { kind: string }>(operation: string, reply: unknown, ref: HolderRef): R {
    if (typeof reply === 'number') throw this.refusal(operation, reply, ref, { volume: ref.name, node: ref.node, token: ref.token });
    if (typeof reply !== 'string') throw new StoreReplyError(this.backend, operation, `reply of type ${typeof reply}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply);
    } catch (error) {
      throw new StoreReplyError(this.backend, operation, 'reply is not JSON', error);
    }
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { kind?: unknown }).kind !== 'string') {
      throw new StoreReplyError(this.backend, operation, 'reply has no kind');
    }
    return parsed as R;
  }

  /** The scripts' negative codes as errors: the one place they are translated. */
  private refusal(operation: string, code: number, volume: VolumeKey, context: Record<string, string | undefined>): DvdiError {
    switch (code) {
      case ScriptRefusal.BadTtl:
        return new StoreMisuseError(`${operation}: lease ttl outside 1..${model.MAX_TTL_MS} ms`, context);
      case ScriptRefusal.UnmounterAcquire:
        return new StoreMisuseError('acquire with the token of an unmounter', context);
      case ScriptRefusal.BadRecord:
        return new StoreRecordInvalidError(this.backend, operation, volume, this.volumeKey(volume));
      case ScriptRefusal.BadReclaim:
        return new StoreMisuseError('acquire with a reclaim that is not {mountpoint, mountId, epoch?}', context);
      default:
        return new StoreReplyError(this.backend, operation, `unknown code ${code}`);
    }
  }

  /** Every operation: refused after close(), bounded by the command timeout, errors typed. */
  private async op<R>(operation: string, body: () => Promise<R>): Promise<R> {
    if (this.closed) throw new StoreClosedError(this.backend);
    try {
      return await withTimeout(body(), this.commandTimeoutMs, () => new StoreTimeoutError(this.backend, operation, this.commandTimeoutMs));
    } catch (error) {
      if (error instanceof DvdiError) throw error;
      // The first word of a Redis error reply is its code (NOPERM, OOM, …): named, not parsed further.
      if (error instanceof Error && error.name === 'ReplyError') throw new StoreReplyError(this.backend, operation, `error reply ${error.message.split(' ', 1)[0] ?? ''}`, error);
      // Not connected, connection lost mid-command, offline queue refused: outcome unknown or
      // not run; never replayed.
      throw new StoreUnavailableError(this.backend, operation, error);
    }
  }
}

function parseVolumeId(member: string): VolumeKey | undefined {
  try {
    const parsed: unknown = JSON.parse(member);
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      return { driver: parsed[0], name: parsed[1] };
    }
  } catch {
    // fall through: not ours
  }
  return undefined;
}

function byKey(a: VolumeKey, b: VolumeKey): number {
  return a.driver === b.driver ? cmp(a.name, b.name) : cmp(a.driver, b.driver);
}

/** A literal for a SCAN MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
