// ContainerRuntime over dockerode: connection options from DOCKER_HOST (given, never read from
// the environment here), replies shape-checked (the engine's JSON is input like any other),
// a time limit on every unary call, and the `/events` stream split into JSON lines.
import type Docker from 'dockerode';
import * as z from '../common/shape-check.js';
import { describeError } from '../common/errors.js';
import type { ContainerDetails, ContainerEvent, ContainerRuntime, ManagedPlugin } from './container-runtime.js';
import { DockerUnavailableError } from './docker-errors.js';

export interface DockerodeRuntimeOptions {
  /** DOCKER_HOST: unix:///path, tcp://host:port, http(s)://host:port or ssh://[user@]host[:port]. */
  dockerHost: string;
  /** Limit of one unary call (inspect, plugin list, info). Default 10 s. */
  callTimeoutMs?: number;
}

/** dockerode connection options for a DOCKER_HOST value (as validated by config/). */
export function dockerodeOptions(dockerHost: string): Docker.DockerOptions {
  const url = new URL(dockerHost);
  // Every field set explicitly: docker-modem would otherwise fill gaps from process.env.
  if (url.protocol === 'unix:') return { socketPath: decodeURIComponent(url.pathname), host: undefined, port: undefined, protocol: 'http' };
  const protocol = url.protocol === 'https:' ? 'https' : url.protocol === 'ssh:' ? 'ssh' : 'http';
  const port = url.port !== '' ? Number(url.port) : protocol === 'ssh' ? 22 : protocol === 'https' ? 2376 : 2375;
  return { host: url.hostname, port, protocol, ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}) };
}

const containerJson = z.object({
  Id: z.string(),
  Name: z.optional(z.string()),
  Config: z.nullish(z.object({ Labels: z.nullish(z.record(z.string(), z.string())) })),
  State: z.object({ Running: z.boolean(), Status: z.optional(z.string()), ExitCode: z.optional(z.number()) }),
});

const pluginJson = z.object({
  Id: z.string(),
  Name: z.string(),
  Enabled: z.boolean(),
  Config: z.object({
    Interface: z.object({ Socket: z.string(), Types: z.nullish(z.array(z.unknown())) }),
    PropagatedMount: z.nullish(z.string()),
  }),
});

const eventJson = z.object({
  Action: z.optional(z.string()),
  status: z.optional(z.string()),
  id: z.optional(z.string()),
  Actor: z.optional(z.object({ ID: z.optional(z.string()), Attributes: z.nullish(z.record(z.string(), z.string())) })),
  time: z.number(),
});

/** Docker lists interface types as strings or as {Prefix, Capability, Version}. */
function typeName(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'object' && raw !== null) {
    const t = raw as { Prefix?: unknown; Capability?: unknown; Version?: unknown };
    if (typeof t.Capability === 'string') return `${typeof t.Prefix === 'string' ? t.Prefix : 'docker'}.${t.Capability}/${typeof t.Version === 'string' ? t.Version : ''}`;
  }
  return String(raw);
}

export function parseEventLine(line: string): ContainerEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = eventJson.safeParse(raw);
  if (!parsed.success) return undefined;
  const e = parsed.data;
  const exit = e.Actor?.Attributes?.exitCode;
  return {
    action: e.Action ?? e.status ?? '',
    id: e.Actor?.ID ?? e.id ?? '',
    time: e.time,
    exitCode: exit !== undefined && /^\d+$/.test(exit) ? Number(exit) : undefined,
  };
}

function statusCodeOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export class DockerodeRuntime implements ContainerRuntime {
  private client: Promise<Docker> | undefined;
  private readonly dockerHost: string;
  private readonly callTimeoutMs: number;

  constructor(options: DockerodeRuntimeOptions) {
    this.dockerHost = options.dockerHost;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
  }

  /** dockerode (and its ssh/TLS stack) is loaded on first use: ~150 ms and ~30 MiB at start that
   * a sidecar with no task container and only legacy plugins never needs. */
  private get docker(): Promise<Docker> {
    this.client ??= import('dockerode').then(({ default: DockerClient }) => new DockerClient(dockerodeOptions(this.dockerHost)));
    return this.client;
  }

  /** `work` gets a signal that aborts at the time limit; calls that cannot take one are raced. */
  private async call<T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new DockerUnavailableError(this.dockerHost, what, `no answer within ${this.callTimeoutMs} ms`));
      }, this.callTimeoutMs);
    });
    try {
      return await Promise.race([work(controller.signal), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private unavailable(what: string, error: unknown): DockerUnavailableError {
    return error instanceof DockerUnavailableError ? error : new DockerUnavailableError(this.dockerHost, what, describeError(error), error);
  }

  async inspectContainer(ref: string): Promise<ContainerDetails | undefined> {
    const what = `inspect container ${ref}`;
    let raw: unknown;
    try {
      raw = await this.call(what, async (abortSignal) => (await this.docker).getContainer(ref).inspect({ abortSignal }));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw this.unavailable(what, error);
    }
    const parsed = containerJson.safeParse(raw);
    if (!parsed.success) throw new DockerUnavailableError(this.dockerHost, what, `unexpected reply: ${z.describeIssues(parsed.error)}`);
    const c = parsed.data;
    return {
      id: c.Id,
      name: (c.Name ?? '').replace(/^\//, ''),
      labels: Object.freeze({ ...(c.Config?.Labels ?? {}) }),
      running: c.State.Running,
      status: c.State.Status ?? (c.State.Running ? 'running' : 'exited'),
      exitCode: c.State.ExitCode,
    };
  }

  async containerEndEvents(containerId: string, options: { since?: number | undefined; signal: AbortSignal }): Promise<AsyncIterable<ContainerEvent>> {
    const filters = { type: ['container'], container: [containerId], event: ['die', 'destroy'] };
    let stream: NodeJS.ReadableStream;
    try {
      stream = await (await this.docker).getEvents({ filters, ...(options.since !== undefined ? { since: options.since } : {}), abortSignal: options.signal } as Docker.GetEventsOptions);
    } catch (error) {
      throw this.unavailable(`subscribe to events of container ${containerId}`, error);
    }
    const close = () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    if (options.signal.aborted) close();
    else options.signal.addEventListener('abort', close, { once: true });
    return lines(stream, options.signal, () => options.signal.removeEventListener('abort', close));
  }

  async listPlugins(): Promise<ManagedPlugin[]> {
    const what = 'list plugins';
    let raw: unknown;
    try {
      raw = await this.call(what, async () => (await this.docker).listPlugins());
    } catch (error) {
      throw this.unavailable(what, error);
    }
    const parsed = z.array(pluginJson).safeParse(raw ?? []);
    if (!parsed.success) throw new DockerUnavailableError(this.dockerHost, what, `unexpected reply: ${z.describeIssues(parsed.error)}`);
    return parsed.data.map((p) => ({
      id: p.Id,
      name: p.Name,
      enabled: p.Enabled,
      socket: p.Config.Interface.Socket,
      types: (p.Config.Interface.Types ?? []).map(typeName),
      propagatedMount: p.Config.PropagatedMount ?? '',
    }));
  }

  async dockerRootDir(): Promise<string> {
    const what = 'read engine info';
    let raw: unknown;
    try {
      raw = await this.call(what, async () => (await this.docker).info() as Promise<unknown>);
    } catch (error) {
      throw this.unavailable(what, error);
    }
    const parsed = z.object({ DockerRootDir: z.string().check(z.minLength(1)) }).safeParse(raw);
    if (!parsed.success) throw new DockerUnavailableError(this.dockerHost, what, 'the reply has no DockerRootDir');
    return parsed.data.DockerRootDir;
  }
}

/** Newline-delimited JSON events of a stream; ends with the stream or `signal`, throws when it breaks. */
async function* lines(stream: NodeJS.ReadableStream, signal: AbortSignal, done: () => void): AsyncGenerator<ContainerEvent> {
  let buffer = '';
  try {
    for await (const chunk of stream) {
      buffer += typeof chunk === 'string' ? chunk : (chunk).toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line === '') continue;
        const event = parseEventLine(line);
        if (event !== undefined) yield event;
      }
    }
  } catch (error) {
    // Closing the stream on purpose surfaces as a premature close: that is a normal end.
    if (!signal.aborted) throw error;
  } finally {
    done();
    (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
}
