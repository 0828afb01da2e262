// A real HTTP volume plugin on a real unix socket whose every method can be told to misbehave:
// the failures a good plugin (ours) never produces — Err with 200, 500 with or without JSON,
// garbage, wrong shapes, hangs, resets, an Activate without VolumeDriver. In mode `ok` it is a
// tiny in-memory volume driver, so a whole Create…Remove sequence can run against it. Every
// request is recorded, so tests can count what reached the plugin.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export type PluginMode =
  | 'ok'
  /** 200 with `{"Err": "..."}` */
  | 'err-200'
  /** 500 with `{"Err": "..."}` */
  | 'err-500'
  /** 500 with a plain-text body */
  | 'text-500'
  /** 200 with a body that is not JSON */
  | 'garbage'
  /** 200 with an empty body */
  | 'empty-body'
  /** 200 with `{}` (no Mountpoint, no Volume…) */
  | 'empty-object'
  /** 200 with every known field of the wrong type */
  | 'wrong-shape'
  /** never answers */
  | 'hang'
  /** closes the connection without answering */
  | 'reset'
  /** Activate answers `{"Implements":["NetworkDriver"]}` */
  | 'not-volume-driver'
  /** answers like `ok`, after `slowMs` (a Mount that takes a while, to interrupt it) */
  | 'slow'
  /** 500 with an Err of terminal escapes, newlines, C1 CSI (U+009B) and bidi overrides */
  | 'hostile-err'
  /** 500 with a 3 MB Err */
  | 'huge-err'
  /** 200 with a 3 MB Mountpoint */
  | 'huge-mountpoint'
  /** 200 with a Mountpoint holding escapes, a newline and a bidi override */
  | 'hostile-mountpoint';

export type MethodName = 'Plugin.Activate' | 'Create' | 'Remove' | 'Mount' | 'Path' | 'Unmount' | 'Get' | 'List' | 'Capabilities';

export interface RecordedRequest {
  method: string;
  body: string;
  headers: IncomingMessage['headers'];
}

export interface MisbehavingPlugin {
  socketPath: string;
  /** Where mode-ok Mounts put their mount point directories. */
  mountRoot: string;
  requests: RecordedRequest[];
  count(method: MethodName): number;
  setMode(method: MethodName, mode: PluginMode): void;
  /** Answer Mount (and Path, Get) for `name` with `mountpoint` instead of its own directory. */
  setMountpoint(name: string, mountpoint: string): void;
  /** Start serving (if created with `listen: false`). */
  listen(): Promise<void>;
  close(): Promise<void>;
}

export const PLUGIN_ERROR_TEXT = 'the backend is on fire';

/** What mode `hostile-err` answers: every trick a hostile plugin has to forge or hide text. */
export const HOSTILE_TEXT =
  '\u001b[2J\u001b[31mcleared\u001b[0m\n{"level":"info","msg":"FORGED line"}\r\n\u009b2Jcsi \u202eesrever\u202c \u2066isolated\u2069 \u200ftail\u0007\u007f\u0000end';
/** Size of the `huge-*` replies. */
export const HUGE_TEXT_LENGTH = 3 * 1024 * 1024;

export async function startMisbehavingPlugin(options: {
  socketPath: string;
  mountRoot: string;
  modes?: Partial<Record<MethodName, PluginMode>>;
  listen?: boolean;
  /** Delay of mode `slow` (default 2000 ms). */
  slowMs?: number;
}): Promise<MisbehavingPlugin> {
  const modes = new Map<string, PluginMode>(Object.entries(options.modes ?? {}));
  const requests: RecordedRequest[] = [];
  const volumes = new Map<string, { mounted: number }>();
  const mountpoints = new Map<string, string>();
  let listening = false;

  const send = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1.1+json' });
    res.end(body);
  };

  async function okReply(method: string, body: Record<string, unknown>): Promise<unknown> {
    const name = typeof body.Name === 'string' ? body.Name : '';
    const chosen = mountpoints.get(name);
    const mountpoint = chosen ?? join(options.mountRoot, name);
    switch (method) {
      case 'Plugin.Activate':
        return { Implements: ['VolumeDriver'] };
      case 'Create':
        if (!volumes.has(name)) volumes.set(name, { mounted: 0 });
        return {};
      case 'Remove':
        volumes.delete(name);
        return {};
      case 'Mount': {
        const volume = volumes.get(name);
        if (volume === undefined) return { Err: `no such volume ${name}` };
        volume.mounted++;
        if (chosen === undefined) await mkdir(mountpoint, { recursive: true });
        return { Mountpoint: mountpoint };
      }
      case 'Unmount': {
        const volume = volumes.get(name);
        if (volume !== undefined && volume.mounted > 0) volume.mounted--;
        return {};
      }
      case 'Path':
        return volumes.get(name)?.mounted ? { Mountpoint: mountpoint } : {};
      case 'Get':
        return volumes.has(name) ? { Volume: { Name: name, Mountpoint: volumes.get(name)?.mounted ? mountpoint : '' } } : { Err: `no such volume ${name}` };
      case 'List':
        return { Volumes: [...volumes.keys()].map((n) => ({ Name: n })) };
      case 'Capabilities':
        return { Capabilities: { Scope: 'local' } };
      default:
        return { Err: `unknown method ${method}` };
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const method = (req.url ?? '/').replace(/^\//, '').replace(/^VolumeDriver\./, '');
      requests.push({ method, body: text, headers: req.headers });
      const mode = modes.get(method) ?? 'ok';
      const answerOk = (): void => {
        let body: Record<string, unknown> = {};
        try {
          body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
        } catch {
          return send(res, 400, JSON.stringify({ Err: 'bad request body' }));
        }
        okReply(method, body).then(
          (reply) => send(res, 200, JSON.stringify(reply)),
          (error: unknown) => send(res, 500, JSON.stringify({ Err: String(error) })),
        );
      };
      switch (mode) {
        case 'err-200':
          return send(res, 200, JSON.stringify({ Err: PLUGIN_ERROR_TEXT }));
        case 'err-500':
          return send(res, 500, JSON.stringify({ Err: PLUGIN_ERROR_TEXT }));
        case 'text-500':
          return send(res, 500, `internal failure: ${PLUGIN_ERROR_TEXT}\n`);
        case 'garbage':
          return send(res, 200, '<html>this is not JSON</html>');
        case 'empty-body':
          return send(res, 200, '');
        case 'empty-object':
          return send(res, 200, '{}');
        case 'wrong-shape':
          return send(res, 200, JSON.stringify({ Implements: 'VolumeDriver', Mountpoint: 42, Volume: 'v', Volumes: {}, Capabilities: 'global' }));
        case 'hang':
          return; // the connection stays open until the client gives up or close() runs
        case 'reset':
          return req.socket.destroy();
        case 'not-volume-driver':
          return send(res, 200, JSON.stringify({ Implements: ['NetworkDriver'] }));
        case 'slow':
          setTimeout(() => answerOk(), options.slowMs ?? 2000);
          return;
        case 'hostile-err':
          return send(res, 500, JSON.stringify({ Err: HOSTILE_TEXT }));
        case 'huge-err':
          return send(res, 500, JSON.stringify({ Err: `huge:${'E'.repeat(HUGE_TEXT_LENGTH)}` }));
        case 'huge-mountpoint':
          return send(res, 200, JSON.stringify({ Mountpoint: `/${'m'.repeat(HUGE_TEXT_LENGTH)}` }));
        case 'hostile-mountpoint':
          return send(res, 200, JSON.stringify({ Mountpoint: `${options.mountRoot}/x\u001b[31m\n\u202eevil` }));
        case 'ok': {
          answerOk();
          return;
        }
      }
    });
  });

  const plugin: MisbehavingPlugin = {
    socketPath: options.socketPath,
    mountRoot: options.mountRoot,
    requests,
    count: (method) => requests.filter((r) => r.method === method).length,
    setMode: (method, mode) => void modes.set(method, mode),
    setMountpoint: (name, mountpoint) => void mountpoints.set(name, mountpoint),
    async listen() {
      await rm(options.socketPath, { force: true });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.socketPath, () => resolve());
      });
      listening = true;
    },
    async close() {
      if (listening) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await rm(options.socketPath, { force: true });
    },
  };
  if (options.listen !== false) await plugin.listen();
  return plugin;
}
