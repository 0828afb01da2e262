// The Docker Volume Plugin protocol over HTTP (moby pkg/plugins, go-plugins-helpers sdk):
// POST /Plugin.Activate and /VolumeDriver.<Method>, JSON in and out, any or no Content-Type,
// an empty body where the request has no fields. Replies 200 with the result, 500 + {Err}
// when the operation fails, 400 + {Err} when the request cannot be decoded — the same split
// go-plugins-helpers makes, so Docker's error text looks as it does with real plugins.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { quoteExternal, quoteExternalValue } from '../common/external-text.js';
import { DvdiError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { VOLUME_METHODS, type VolumeMethod } from '../driver/protocol-types.js';
import { BadRequestError, PluginError } from './plugin-errors.js';
import type { VolumeService } from './volume-service.js';
import type { FaultInjector } from './fault-injection.js';

/** The media type go-plugins-helpers answers with; Docker ignores it but other clients check. */
export const PLUGIN_REPLY_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.1+json';
const MAX_BODY_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

function decode(body: string, allowEmpty: boolean): Json {
  if (body.trim() === '') {
    if (allowEmpty) return {};
    throw new BadRequestError('empty request body: expected a JSON object');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new BadRequestError(`request body is not JSON: ${describeError(error)}`, error);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    if (allowEmpty && parsed === null) return {};
    throw new BadRequestError('request body is not a JSON object');
  }
  return parsed as Json;
}

/** `Name` must be a string to decode at all; whether it is a *valid* name is the service's call. */
function nameOf(request: Json): string {
  const name = request.Name;
  if (typeof name !== 'string') throw new BadRequestError(`request field Name must be a string, got ${name === undefined ? 'nothing' : quoteExternalValue(name)}`);
  return name;
}

function idOf(request: Json): string | undefined {
  const id = request.ID;
  if (id === undefined || id === null || id === '') return undefined;
  if (typeof id !== 'string') throw new BadRequestError(`request field ID must be a string, got ${quoteExternalValue(id)}`);
  return id;
}

function optsOf(request: Json): Record<string, string> | null {
  const opts = request.Opts;
  if (opts === undefined || opts === null) return null;
  if (typeof opts !== 'object' || Array.isArray(opts)) throw new BadRequestError('request field Opts must be an object of strings or null');
  for (const [key, value] of Object.entries(opts)) {
    if (typeof value !== 'string') throw new BadRequestError(`request field Opts.${quoteExternal(key, 64)} must be a string, got ${quoteExternalValue(value)}`);
  }
  return opts as Record<string, string>;
}

/**
 * Pool-mode extension: a Mount body may carry `Opts: {preempt: "true"}`. Docker never sends
 * Opts on Mount, and Go's decoder ignores fields it does not know, so other keys are ignored.
 */
function preemptOf(request: Json): boolean | undefined {
  const opts = request.Opts;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) return undefined;
  for (const [key, value] of Object.entries(opts as Record<string, unknown>)) {
    if (key.toLowerCase() !== 'preempt') continue;
    const lower = typeof value === 'string' ? value.trim().toLowerCase() : '';
    if (lower !== 'true' && lower !== 'false') throw new BadRequestError(`option preempt=${quoteExternalValue(value)} is invalid: expected a boolean (true|false)`);
    return lower === 'true';
  }
  return undefined;
}

async function dispatch(service: VolumeService, method: VolumeMethod, request: Json): Promise<Json> {
  switch (method) {
    case 'Create':
      await service.create(nameOf(request), optsOf(request));
      return {};
    case 'Remove':
      await service.remove(nameOf(request));
      return {};
    case 'Mount':
      return { Mountpoint: await service.mount(nameOf(request), idOf(request), preemptOf(request)) };
    case 'Unmount':
      await service.unmount(nameOf(request), idOf(request));
      return {};
    case 'Path':
      return { Mountpoint: await service.path(nameOf(request)) };
    case 'Get':
      return { Volume: await service.get(nameOf(request)) };
    case 'List':
      return { Volumes: await service.list() };
    case 'Capabilities':
      return { Capabilities: { Scope: 'local' } };
  }
}

const EMPTY_BODY_METHODS: ReadonlySet<string> = new Set(['Plugin.Activate', 'VolumeDriver.List', 'VolumeDriver.Capabilities']);

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequestError(`request body larger than ${MAX_BODY_BYTES} bytes`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function reply(response: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': PLUGIN_REPLY_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

export function createPluginServer(service: VolumeService, logger: Logger, faults?: FaultInjector): Server {
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0]?.replace(/^\/+/, '') ?? '';
    const [prefix, method] = path.split('.', 2);
    const known = path === 'Plugin.Activate' || (prefix === 'VolumeDriver' && (VOLUME_METHODS as readonly string[]).includes(method ?? ''));
    if (!known) {
      reply(response, 404, { Err: `unknown endpoint /${path}` });
      return;
    }
    if (request.method !== 'POST') {
      response.setHeader('Allow', 'POST');
      reply(response, 405, { Err: `${request.method ?? '?'} /${path}: only POST is allowed` });
      return;
    }
    const started = performance.now();
    try {
      const body = decode(await readBody(request), EMPTY_BODY_METHODS.has(path));
      const injected = faults === undefined ? {} : await faults.apply(path);
      if (injected.hang) return; // never answered: the client's timeout is what is under test
      if (injected.error !== undefined) {
        reply(response, 500, { Err: injected.error });
        logger.info({ endpoint: path, error: injected.error }, 'injected fault');
        return;
      }
      const result = path === 'Plugin.Activate' ? { Implements: ['VolumeDriver'] } : await dispatch(service, method as VolumeMethod, body);
      reply(response, 200, result);
      logger.debug({ endpoint: path, durationMs: Math.round(performance.now() - started) }, 'request ok');
    } catch (error) {
      const status = error instanceof BadRequestError ? 400 : 500;
      const message = error instanceof DvdiError ? error.message : describeError(error);
      reply(response, status, { Err: message });
      // Refused requests are ordinary traffic: one line without a stack. Anything else is a bug or a system failure.
      if (error instanceof PluginError) logger.info({ endpoint: path, status, code: error.code, error: message }, 'request refused');
      else logger.error({ endpoint: path, status, err: error }, 'request failed');
    }
  };
  return createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'request handler crashed');
      if (!response.headersSent) reply(response, 500, { Err: describeError(error) });
      else response.destroy();
    });
  });
}
