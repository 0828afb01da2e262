// Composition of one reference-plugin instance: layout, backend, service, journal, HTTP server
// on a unix socket. Owns the socket file's life: its directory is created, a stale socket left
// by a killed instance is replaced (a live one is refused), and the file is removed on close.
// Closing never unmounts: the volumes belong to their clients, and a restarted plugin adopts
// them from mountinfo.
import { connect } from 'node:net';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { Clock } from '../common/clock.js';
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

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
}

export async function startPlugin(options: PluginOptions): Promise<RunningPlugin> {
  try {
    validateVolumeName(options.name); // plugin names follow the same rule: they become file names
  } catch {
    throw usage(`invalid plugin name ${JSON.stringify(options.name)}: expected ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`);
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
  await prepareSocket(socket);
  const server = createPluginServer(service, logger, options.faults === undefined ? undefined : new FaultInjector(options.faults));
  await listen(server, socket);
  logger.info({ socket, root: layout.root, backend: backend.kind, pool: options.pool, journal: options.journal, habits: options.habits ?? 'reference' }, 'plugin serving');

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
