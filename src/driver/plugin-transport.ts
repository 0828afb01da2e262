// One HTTP exchange with a plugin: `POST /<Method>` with a JSON body and Docker's Accept header,
// over a unix socket (Host `plugin.moby.localhost`, as moby sends) or TCP, TLS only for https.
// It returns the raw status and body; judging the reply is the client's business. It owns the
// classification of transport failures: a connection error before any reply is retryable,
// a reply cut short is not, and the time limit (read from the injected Clock) is a timeout.
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../common/clock.js';
import { PLUGIN_MEDIA_TYPE } from './protocol-types.js';
import { DriverAbortedError, DriverBadReplyError, DriverTimeoutError, DriverUnreachableError, type CallSite, type DriverError } from './driver-errors.js';
import { endpointUrl, type PluginEndpoint } from './plugin-endpoint.js';

export const UNIX_PLUGIN_HOST = 'plugin.moby.localhost';
/** Replies larger than this are not a volume plugin talking. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** Socket-level codes that mean "no conversation happened": safe to try again. */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTSOCK']);

export interface PluginHttpReply {
  status: number;
  body: string;
}

export interface PostOptions {
  clock: Clock;
  timeoutMs: number;
  site: CallSite;
  signal?: AbortSignal | undefined;
}

async function tlsOptions(endpoint: PluginEndpoint): Promise<HttpsRequestOptions> {
  const tls = endpoint.tls ?? { insecureSkipVerify: true };
  const load = async (file: string | undefined): Promise<Buffer | undefined> => (file === undefined ? undefined : readFile(file));
  const [ca, cert, key] = await Promise.all([load(tls.caFile), load(tls.certFile), load(tls.keyFile)]);
  return { rejectUnauthorized: !tls.insecureSkipVerify, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

function hostAndPort(address: string): { host: string; port: number } {
  const url = new URL(`http://${address}`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) };
}

/** `POST /<path>` to the plugin; resolves with whatever status it answered. */
export async function postToPlugin(endpoint: PluginEndpoint, path: string, payload: unknown, options: PostOptions): Promise<PluginHttpReply> {
  const { site, clock, timeoutMs, signal } = options;
  const address = endpointUrl(endpoint);
  const body = JSON.stringify(payload);
  // moby sets no request Content-Type; we do the same so plugins see what Docker sends.
  const headers: Record<string, string | number> = { Accept: PLUGIN_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(body) };
  let requestOptions: RequestOptions;
  // node:https (and with it tls) loads only for an https plugin: ~3 MiB a unix-socket sidecar never needs.
  const httpsRequest = endpoint.transport === 'https' ? (await import('node:https')).request : undefined;
  if (endpoint.transport === 'unix') {
    // servername '' (TLS only; none here): else node's Agent derives it from the Host header
    // through net.isIP, whose IPv6 pattern costs ~10 ms to compile on a sidecar's first call.
    const unixOptions: RequestOptions & { servername: string } = { socketPath: endpoint.address, servername: '', headers: { ...headers, Host: UNIX_PLUGIN_HOST } };
    requestOptions = unixOptions;
  } else {
    requestOptions = { ...hostAndPort(endpoint.address), headers };
    if (endpoint.transport === 'https') {
      try {
        requestOptions = { ...requestOptions, ...(await tlsOptions(endpoint)) };
      } catch (error) {
        throw new DriverUnreachableError(site, address, `cannot read TLS files (${(error as Error).message})`, false, error);
      }
    }
  }
  if (signal?.aborted) throw new DriverAbortedError(site, signal.reason);

  return new Promise<PluginHttpReply>((resolve, reject) => {
    const timer = new AbortController();
    let settled = false;
    let responded = false;
    // Assigned right below; `fail` can only run after that (all its callers are async events).
    const holder: { req?: ClientRequest } = {};

    const onAbort = (): void => fail(new DriverAbortedError(site, signal?.reason));
    function finish(): void {
      settled = true;
      timer.abort();
      signal?.removeEventListener('abort', onAbort);
    }
    function fail(error: DriverError): void {
      if (settled) return;
      finish();
      holder.req?.destroy();
      reject(error);
    }

    const onResponse = (res: IncomingMessage): void => {
      responded = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPLY_BYTES) fail(new DriverBadReplyError(site, `reply larger than ${MAX_REPLY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        finish();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('aborted', () => fail(new DriverUnreachableError(site, address, 'connection closed in the middle of the reply', false)));
      res.on('error', (error) => fail(new DriverUnreachableError(site, address, `reply failed: ${error.message}`, false, error)));
    };

    const req = httpsRequest !== undefined ? httpsRequest({ ...requestOptions, method: 'POST', path }, onResponse) : httpRequest({ ...requestOptions, method: 'POST', path }, onResponse);
    holder.req = req;
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'unknown';
      const retryable = !responded && CONNECTION_ERROR_CODES.has(code);
      fail(new DriverUnreachableError(site, address, `${code}${error.message && !error.message.includes(code) ? ` (${error.message})` : ''}`, retryable, error));
    });
    clock.sleep(timeoutMs, timer.signal).then(
      () => fail(new DriverTimeoutError(site, timeoutMs)),
      () => undefined, // cancelled because the exchange ended first
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
