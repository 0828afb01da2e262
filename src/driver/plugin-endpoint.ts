// Where a volume plugin listens and how to talk to it: the one value every resolver produces
// (legacy plugin directories here; Docker's managed v2 plugins later) and the transport
// consumes. Also the parsing of the `.spec` URL and `.json` description files, and the v2
// PropagatedMount path translation a direct client must do itself (moby `v2/plugin.go`).

export interface PluginTls {
  /** True unless a CA file is given (moby forces it when `TLSConfig.CAFile` is empty). */
  insecureSkipVerify: boolean;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * A managed (v2) plugin sees its volumes under `inPlugin` (its `Config.PropagatedMount`); on the
 * host the same tree is at `onHost`. Any other path a v2 plugin returns lives in its rootfs.
 */
export interface PropagatedMount {
  inPlugin: string;
  onHost: string;
  /** Host path of the plugin's rootfs, for mount points outside `inPlugin`. */
  rootfs?: string | undefined;
}

export interface PluginEndpoint {
  /** Plugin name as the user wrote it (`rexray`, `rexray/ebs:latest`). */
  name: string;
  /** `unix`: `address` is a socket path. `http` / `https`: `address` is `host:port`. */
  transport: 'unix' | 'http' | 'https';
  address: string;
  /** Only used with `https` (Docker speaks TLS only when the scheme is https). */
  tls?: PluginTls | undefined;
  propagatedMount?: PropagatedMount | undefined;
  /** Where this endpoint came from (a file path, a Docker plugin id), for messages. */
  source: string;
}

/** `unix:///run/x.sock`, `http://127.0.0.1:8080`: for messages. */
export function endpointUrl(endpoint: PluginEndpoint): string {
  return endpoint.transport === 'unix' ? `unix://${endpoint.address}` : `${endpoint.transport}://${endpoint.address}`;
}

/** Thrown by the parsers below; the resolver turns it into a DriverBadSpecError with the file name. */
export class PluginSpecSyntaxError extends Error {}

/**
 * Parse a plugin address URL as moby does: a scheme is required; `unix` takes the path,
 * `tcp` and `http` mean plain HTTP, `https` means TLS. Anything else is refused.
 */
export function parsePluginAddress(name: string, text: string, source: string, tls?: PluginTls): PluginEndpoint {
  const line = text.trim();
  if (line === '') throw new PluginSpecSyntaxError('empty address (expected one URL such as unix:///run/x.sock or tcp://127.0.0.1:8080)');
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(line);
  if (match === null) throw new PluginSpecSyntaxError(`"${line}" has no scheme (expected unix://, tcp://, http:// or https://)`);
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw new PluginSpecSyntaxError(`"${line}": a unix address needs an absolute socket path (unix:///path/to.sock)`);
    return { name, transport: 'unix', address: rest, source };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw new PluginSpecSyntaxError(`"${line}": unsupported scheme ${scheme} (expected unix, tcp, http or https)`);
  }
  let url: URL;
  try {
    url = new URL(`http://${rest}`);
  } catch (error) {
    throw new PluginSpecSyntaxError(`"${line}": not a valid URL (${(error as Error).message})`);
  }
  if (url.hostname === '' || url.port === '') throw new PluginSpecSyntaxError(`"${line}": needs host and port (${scheme}://host:port)`);
  const transport = scheme === 'https' ? 'https' : 'http';
  return { name, transport, address: url.host, source, ...(transport === 'https' ? { tls: tls ?? { insecureSkipVerify: true } } : {}) };
}

/** A `.json` plugin file: `{Name, Addr, TLSConfig{InsecureSkipVerify, CAFile, CertFile, KeyFile}}`. */
export function parsePluginJson(name: string, text: string, source: string): PluginEndpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PluginSpecSyntaxError(`not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new PluginSpecSyntaxError('expected a JSON object {Name, Addr, TLSConfig}');
  const record = parsed as Record<string, unknown>;
  if (typeof record.Addr !== 'string') throw new PluginSpecSyntaxError('field Addr (string URL) is missing');
  let tls: PluginTls | undefined;
  const rawTls = record.TLSConfig;
  if (rawTls !== undefined && rawTls !== null) {
    if (typeof rawTls !== 'object' || Array.isArray(rawTls)) throw new PluginSpecSyntaxError('field TLSConfig must be an object');
    const t = rawTls as Record<string, unknown>;
    const str = (key: string): string | undefined => {
      const value = t[key];
      if (value === undefined || value === null || value === '') return undefined;
      if (typeof value !== 'string') throw new PluginSpecSyntaxError(`TLSConfig.${key} must be a string`);
      return value;
    };
    const caFile = str('CAFile');
    // moby: without a CA there is nothing to verify against, so verification is off.
    tls = { insecureSkipVerify: caFile === undefined ? true : t.InsecureSkipVerify === true, caFile, certFile: str('CertFile'), keyFile: str('KeyFile') };
  }
  // The file's own Name is ignored, as in moby: the plugin is named by its file.
  return parsePluginAddress(name, record.Addr, source, tls);
}

/** Translate a mount point a plugin returned into the host path (identity for v1 plugins). */
export function hostPathOf(endpoint: PluginEndpoint, mountpoint: string): string {
  const pm = endpoint.propagatedMount;
  if (pm === undefined) return mountpoint;
  // An empty inPlugin (a v2 plugin without PropagatedMount) maps nothing: all is in the rootfs.
  const prefix = pm.inPlugin.replace(/\/+$/, '');
  if (pm.inPlugin !== '' && mountpoint === prefix) return pm.onHost;
  if (pm.inPlugin !== '' && mountpoint.startsWith(`${prefix}/`)) return `${pm.onHost.replace(/\/+$/, '')}${mountpoint.slice(prefix.length)}`;
  if (pm.rootfs !== undefined) return `${pm.rootfs.replace(/\/+$/, '')}${mountpoint.startsWith('/') ? '' : '/'}${mountpoint}`;
  return mountpoint;
}
