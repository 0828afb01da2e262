// The accepted forms of every configuration value: one rule per form, each a pure parser plus
// the sentence that tells an operator what is accepted. Parsers throw InvalidValue, whose
// detail never quotes the value (callers quote it, redacted where it is a secret).
import { readCsvRecord } from './csv-record.js';
import { isIPv4, isIPv6 } from 'node:net';
import { posix } from 'node:path';
import { validate as isValidCron } from 'node-cron';
import { VOLUME_NAME_PATTERN } from '../driver/protocol-types.js';

/** Thrown by a rule's parser; `detail` (optional) says what exactly is wrong, without the value. */
export class InvalidValue extends Error {
  constructor(readonly detail?: string) {
    super(detail ?? 'invalid value');
    this.name = 'InvalidValue';
  }
}

export interface ValueRule<T> {
  /** What is accepted, completing "expected …". */
  readonly accepted: string;
  parse(raw: string): T;
}

// Node timers overflow above 2^31-1 ms and fire after 1 ms instead: a limit above it is a bug.
const MAX_TIMER_MS = 2_147_483_647;
// Control characters (C0 and DEL) never belong in a path, a name or an identity.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const booleanRule: ValueRule<boolean> = {
  accepted: 'true or false (also 1/0, yes/no; any case, surrounding blanks ignored)',
  parse(raw) {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    throw new InvalidValue();
  },
};

export function enumRule<T extends string>(values: readonly T[]): ValueRule<T> {
  const accepted = values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`;
  return {
    accepted,
    parse(raw) {
      const v = raw.trim().toLowerCase();
      const found = values.find((x) => x === v);
      if (found === undefined) throw new InvalidValue();
      return found;
    },
  };
}

export function integerRule(min: number, max = MAX_TIMER_MS): ValueRule<number> {
  return {
    accepted: `a whole number from ${min} to ${max}`,
    parse(raw) {
      const v = raw.trim();
      if (!/^\d{1,16}$/.test(v)) throw new InvalidValue();
      const n = Number(v);
      if (n < min || n > max) throw new InvalidValue(`${n} is out of range`);
      return n;
    },
  };
}

function checkAbsolutePath(raw: string): string {
  if (CONTROL.test(raw)) throw new InvalidValue('it contains a control character');
  if (!raw.startsWith('/')) throw new InvalidValue('it is not absolute');
  if (raw.split('/').includes('..')) throw new InvalidValue('it contains a ".." segment');
  const normal = posix.normalize(raw);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** Absolute, no `..` segment, no control characters; returned normalised (no `//`, `/./`, trailing `/`). */
export const absolutePathRule: ValueRule<string> = {
  accepted: 'an absolute path without ".." segments or control characters',
  parse: checkAbsolutePath,
};

/** As absolutePathRule, and not `/` itself: the mount root is swept for orphan mounts. */
export const mountRootRule: ValueRule<string> = {
  accepted: 'an absolute directory other than "/", without ".." segments or control characters',
  parse(raw) {
    const path = checkAbsolutePath(raw);
    if (path === '/') throw new InvalidValue('"/" cannot be the mount root');
    return path;
  },
};

export const pathListRule: ValueRule<readonly string[]> = {
  accepted: 'a colon-separated list of absolute directories, e.g. /run/docker/plugins:/etc/docker/plugins',
  parse(raw) {
    const dirs = raw.split(':').filter((d) => d !== '');
    if (dirs.length === 0) throw new InvalidValue('the list is empty');
    return [...new Set(dirs.map(checkAbsolutePath))];
  },
};

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface HostPort {
  /** IPv6 addresses without brackets, as net.Server.listen and ioredis want them. */
  readonly host: string;
  readonly port: number;
}

function parseHostPort(raw: string, minPort: number, allowEmptyHost: boolean): HostPort {
  const v = raw.trim();
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) throw new InvalidValue();
  const port = Number(m[3]);
  if (port < minPort || port > 65535) throw new InvalidValue(`port ${port} is out of range`);
  if (m[1] !== undefined) {
    if (!isIPv6(m[1])) throw new InvalidValue('the bracketed host is not an IPv6 address');
    return { host: m[1], port };
  }
  const host = m[2] ?? '';
  if (host === '') {
    if (!allowEmptyHost) throw new InvalidValue('the host is missing');
    return { host: '0.0.0.0', port };
  }
  if (!isIPv4(host) && !HOSTNAME.test(host)) throw new InvalidValue('the host is not a host name or an IPv4 address');
  return { host, port };
}

/** `host:port`, `[ipv6]:port`, or `:port` (all IPv4 interfaces); port 0–65535 (0: any free port). */
export const listenAddressRule: ValueRule<HostPort> = {
  accepted: 'host:port with port 0-65535, e.g. 0.0.0.0:9650, 127.0.0.1:9650 or [::1]:9650',
  parse: (raw) => parseHostPort(raw, 0, true),
};

export const sentinelsRule: ValueRule<readonly HostPort[]> = {
  accepted: 'a comma-separated list of host:port (port 1-65535), e.g. sentinel-1:26379,[fd00::2]:26379',
  parse(raw) {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) throw new InvalidValue('the list is empty');
    return items.map((item, i) => {
      try {
        return parseHostPort(item, 1, false);
      } catch (error) {
        const detail = error instanceof InvalidValue && error.detail !== undefined ? `: ${error.detail}` : '';
        throw new InvalidValue(`item ${i + 1} is not host:port${detail}`);
      }
    });
  },
};

/** Redis Cluster seed nodes: any reachable subset; the client learns the rest from them. */
export const clusterNodesRule: ValueRule<readonly HostPort[]> = {
  accepted: 'a comma-separated list of host:port (port 1-65535) of Redis Cluster nodes, e.g. redis-1:6379,redis-2:6379',
  parse: (raw) => sentinelsRule.parse(raw),
};

/** `new URL`, with the rule's own error when the text is not a URL at all. */
function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new InvalidValue('it is not a URL');
  }
}

/** redis:// or rediss:// with a host; a path, when present, is the database number. */
export const redisUrlRule: ValueRule<string> = {
  accepted: 'redis://[user:password@]host[:port][/db] or rediss://… (TLS)',
  parse(raw) {
    const v = raw.trim();
    const url = parseUrl(v);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new InvalidValue('the scheme is not redis:// or rediss://');
    if (url.hostname === '') throw new InvalidValue('the host is missing');
    if (url.port !== '' && Number(url.port) === 0) throw new InvalidValue('port 0 is not a Redis port');
    if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,5}$/.test(url.pathname)) {
      throw new InvalidValue('the path must be a database number');
    }
    return v;
  },
};

export const redisPrefixRule: ValueRule<string> = {
  accepted: '1-64 characters from A-Z a-z 0-9 _ . : -',
  parse(raw) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(raw)) throw new InvalidValue();
    return raw;
  },
};

export const sentinelNameRule: ValueRule<string> = {
  accepted: 'a Redis master name: 1-128 characters from A-Z a-z 0-9 _ . -',
  parse(raw) {
    const v = raw.trim();
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(v)) throw new InvalidValue();
    return v;
  },
};

export const cronRule: ValueRule<string> = {
  accepted: 'a node-cron expression (5 fields, or 6 with seconds first), e.g. */30 * * * * *',
  parse(raw) {
    const v = raw.trim();
    if (!isValidCron(v)) throw new InvalidValue();
    return v;
  },
};

/**
 * Node and task identities end up in store keys, lease records and /status: printable, no
 * blanks, no `/` or `{}` (Redis Cluster hash tags), at most 253 characters. Covers host names,
 * IPv4/IPv6 addresses, Mesos task IDs (`app.instance-…`) and Kubernetes pod UIDs.
 */
export const identityRule: ValueRule<string> = {
  accepted: '1-253 characters from A-Z a-z 0-9 _ . : @ -, starting with a letter or digit',
  parse(raw) {
    const v = raw.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,252}$/.test(v)) throw new InvalidValue();
    return v;
  },
};

/** A Docker container ID or name (names may carry Docker's leading `/`). */
export const containerRefRule: ValueRule<string> = {
  accepted: 'a Docker container ID or name ([/]A-Za-z0-9 followed by A-Za-z0-9 _ . -)',
  parse(raw) {
    const v = raw.trim();
    if (!/^\/?[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(v)) throw new InvalidValue();
    return v;
  },
};

export const dockerHostRule: ValueRule<string> = {
  accepted: 'unix:///absolute/path.sock, tcp://host:port, http(s)://host:port or ssh://[user@]host[:port]',
  parse(raw) {
    const v = raw.trim();
    const url = parseUrl(v);
    if (url.protocol === 'unix:') {
      if (url.host !== '') throw new InvalidValue('unix:// takes an absolute path: unix:///var/run/docker.sock');
      checkAbsolutePath(decodeURIComponent(url.pathname));
      return v;
    }
    if (!['tcp:', 'http:', 'https:', 'ssh:'].includes(url.protocol)) throw new InvalidValue('the scheme is not unix, tcp, http, https or ssh');
    if (url.hostname === '') throw new InvalidValue('the host is missing');
    return v;
  },
};

export const volumeNameRule: ValueRule<string> = {
  accepted: `a volume name matching ${String(VOLUME_NAME_PATTERN)} (1-128 characters)`,
  parse(raw) {
    if (!VOLUME_NAME_PATTERN.test(raw)) throw new InvalidValue();
    return raw;
  },
};

/**
 * A legacy plugin name (`rexray`, the socket `/run/docker/plugins/rexray.sock`) or a managed
 * plugin reference (`rexray/ebs:latest`, `registry.local:5000/vendor/plugin:1.2`). Lower case
 * as Docker's references are; `/`-separated segments, none empty, `.` or `..`, because the
 * name becomes part of a socket path during discovery.
 */
export const DRIVER_NAME_PATTERN =
  /^(?:[a-z0-9][a-z0-9.-]*(?::\d{1,5})?\/)?[a-z0-9][a-z0-9._/-]{0,254}(?::[A-Za-z0-9._-]{1,128})?$/;

export const driverNameRule: ValueRule<string> = {
  accepted: 'a plugin name such as rexray or a managed plugin reference such as rexray/ebs:latest (lower case a-z 0-9 . _ - /, optional :tag)',
  parse(raw) {
    if (!DRIVER_NAME_PATTERN.test(raw)) throw new InvalidValue();
    const tagless = raw.replace(/:[A-Za-z0-9._-]+$/, '');
    if (tagless.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new InvalidValue('it has an empty, "." or ".." path segment');
    return raw;
  },
};

export const containerPathRule: ValueRule<string> = {
  accepted: 'an absolute path without ".." segments or control characters, e.g. /data',
  parse: checkAbsolutePath,
};

export const OPTION_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * `k=v,k=v`: items split on `,`, blank items ignored, the first `=` separates key from value,
 * blanks around a key ignored, the value kept as is. A value holding commas is written the way
 * `docker run --mount` takes it, with CSV quoting of the whole item: `"k=a,b",k2=v` (`""` is a
 * quote inside). An item that does not start with `"` means what it always did, quotes included.
 * Details name items by position and keys only: values are secrets.
 */
export const optionsRule: ValueRule<Readonly<Record<string, string>>> = {
  accepted: `k=v items separated by commas, keys matching ${String(OPTION_KEY_PATTERN)}, each key once; values may contain "="; an item whose value holds commas is quoted whole, CSV style: "k=a,b" ("" for a quote inside)`,
  parse(raw) {
    const opts: Record<string, string> = {};
    const problems: string[] = [];
    const record = readCsvRecord(raw, { bareQuote: 'literal' });
    if (!Array.isArray(record)) throw new InvalidValue(record.error);
    const items = record.filter((item) => item.trim() !== '');
    items.forEach((item, i) => {
      const eq = item.indexOf('=');
      if (eq < 0) {
        problems.push(`item ${i + 1} has no "="`);
        return;
      }
      const key = item.slice(0, eq).trim();
      if (key === '') problems.push(`item ${i + 1} has an empty key`);
      else if (!OPTION_KEY_PATTERN.test(key)) problems.push(`item ${i + 1} has an invalid key`);
      else if (Object.hasOwn(opts, key)) problems.push(`key ${key} is given more than once`);
      else opts[key] = item.slice(eq + 1);
    });
    if (problems.length > 0) throw new InvalidValue(problems.join(', '));
    return opts;
  },
};
