// Composition of one reference-plugin instance: layout, backend, service, journal, HTTP server
// on a unix socket. Owns the socket file's life: its directory is created, a stale socket left
// by a killed instance is replaced (a live one is refused), the socket appears at its path only
// once it is 0600 (0660 with a socket group), whatever the umask, and it is removed on close.
// Closing never unmounts: the volumes belong to their clients, and a restarted plugin adopts
// them from mountinfo.
import { connect } from 'node:net';
import { chmod, chown, lstat, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { quoteExternalValue } from '../common/external-text.js';
import type { Clock } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { run } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { AttachmentRegistry } from './attachment-registry.js';
import { DirBackend } from './dir-backend.js';
import { LoopBackend } from './loop-backend.js';
import { MountJournal } from './mount-journal.js';
import { PluginError } from './plugin-errors.js';
import { isNotFound, PluginLayout, validateVolumeName } from './plugin-layout.js';
import { createPluginServer } from './plugin-server.js';
import { FaultInjector } from './fault-injection.js';
import type { BackendKind, VolumeBackend } from './volume-backend.js';
import { VolumeService, type PluginHabits } from './volume-service.js';

export interface PluginOptions {
  name: string;
  backend: BackendKind;
  /** Default /var/lib/dvdi-plugin/NAME. */
  root?: string;
  /** Default /run/docker/plugins/NAME.sock. */
  socket?: string;
  /** Group (name or numeric id) that may use the socket too: mode 0660 instead of 0600. */
  socketGroup?: string;
  journal?: string;
  node?: string;
  /** Shared image pool (loop backend), for simulating several nodes with block semantics. */
  pool?: string;
  /** Test-only fault injection file (see fault-injection.ts). */
  faults?: string;
  /** Answer unknown-ID Unmount and Path as rclone does (see volume-service.ts); default reference. */
  habits?: PluginHabits;
  clock: Clock;
  logger: Logger;
}

export interface RunningPlugin {
  readonly socket: string;
  readonly root: string;
  readonly service: VolumeService;
  /** Stop serving and remove the socket; mounts stay. Idempotent. */
  close(): Promise<void>;
}

export const defaultRoot = (name: string): string => `/var/lib/dvdi-plugin/${name}`;
export const defaultSocket = (name: string): string => `/run/docker/plugins/${name}.sock`;

function usage(message: string): PluginError {
  return new PluginError('DVDI_PLUGIN_USAGE', message, { exitCode: 2 });
}

/** Is something accepting connections on this socket? */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

async function prepareSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  if (!stats.isSocket()) throw usage(`socket path ${path} exists and is not a socket: refusing to replace it`);
  if (await socketIsLive(path)) throw usage(`socket ${path} is served by another process: is the plugin already running?`);
  await rm(path, { force: true });
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
}

/** A group name or numeric id → gid (`getent group`, so NSS groups count too). */
export async function resolveGroup(group: string): Promise<number> {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/.test(group)) throw usage(`--socket-group ${quoteExternalValue(group)} is invalid: expected a group name or a numeric gid`);
  let line: string;
  try {
    line = (await run('getent', ['group', group], { timeoutMs: 10_000 })).stdout;
  } catch (error) {
    throw usage(`--socket-group ${group}: no such group (${describeError(error)})`);
  }
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid) || gid < 0) throw usage(`--socket-group ${group}: getent answered ${quoteExternalValue(line.trim())}, not a group entry`);
  return gid;
}

/**
 * Whoever can connect to the socket can create, mount and remove root's volumes, so it must
 * never be reachable with the umask's permissions, not even between bind() and chmod(): the
 * server listens in a fresh 0700 directory beside the final path, the socket gets its mode
 * (and group) there, and only then is it renamed into place. rename keeps the socket's inode,
 * so the listener answers at the new path; it is atomic, and refuses to cross filesystems.
 */
async function listen(server: Server, path: string, gid: number | undefined): Promise<void> {
  const staging = await mkdtemp(join(dirname(path), `.${basename(path)}.`)); // mkdtemp makes it 0700
  try {
    const staged = join(staging, 'sock');
    await listenOn(server, staged);
    if (gid !== undefined) await chown(staged, -1, gid);
    await chmod(staged, gid === undefined ? 0o600 : 0o660);
    await rename(staged, path);
  } catch (error) {
    server.close();
    throw error;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export async function startPlugin(options: PluginOptions): Promise<RunningPlugin> {
  try {
    validateVolumeName(options.name); // plugin names follow the same rule: they become file names
  } catch {
    throw usage(`invalid plugin name ${quoteExternalValue(options.name)}: expected ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`);
  }
  if (options.pool !== undefined && options.backend !== 'loop') throw usage('--pool needs --backend loop (a pool shares block images)');
  if (options.pool !== undefined && options.node === undefined) throw usage('--pool needs --node NAME (the attachment records name the node)');
  const logger = options.logger.child({ plugin: options.name, ...(options.node ? { node: options.node } : {}) });
  const layout = await PluginLayout.open(options.root ?? defaultRoot(options.name), options.pool);
  const backend: VolumeBackend = options.backend === 'loop' ? new LoopBackend(layout, options.clock, logger) : new DirBackend(layout);
  const journal = options.journal === undefined ? undefined : new MountJournal(resolve(options.journal), options.clock, logger, options.node);
  const attachments = options.pool === undefined || options.node === undefined ? undefined : new AttachmentRegistry(layout, options.node, options.clock, logger);
  const service = new VolumeService({
    layout,
    backend,
    clock: options.clock,
    logger,
    ...(journal ? { journal } : {}),
    ...(attachments ? { attachments } : {}),
    ...(options.habits === undefined ? {} : { habits: options.habits }),
  });
  await service.start();

  const socket = resolve(options.socket ?? defaultSocket(options.name));
  const gid = options.socketGroup === undefined ? undefined : await resolveGroup(options.socketGroup);
  await prepareSocket(socket);
  const server = createPluginServer(service, logger, options.faults === undefined ? undefined : new FaultInjector(options.faults));
  await listen(server, socket, gid);
  logger.info({ socket, socketMode: gid === undefined ? '0600' : '0660', socketGid: gid, root: layout.root, backend: backend.kind, pool: options.pool, journal: options.journal, habits: options.habits ?? 'reference' }, 'plugin serving');

  let closing: Promise<void> | undefined;
  return {
    socket,
    root: layout.root,
    service,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
        server.closeIdleConnections();
        await service.idle(); // let accepted operations finish: a half-done mount helps nobody
        server.closeAllConnections();
        await closed;
        await rm(socket, { force: true });
        logger.info({ socket }, 'plugin stopped; volumes stay mounted');
      })();
      return closing;
    },
  };
}
