// How secrets look when config/ has to talk about them: driver option values and URL passwords
// never leave this module in clear text. Messages quote values through `quote`, the project's one
// sanitizer for external text (common/external-text: control and bidi characters out, capped),
// so a hostile value (an env variable, a Docker label) cannot forge log lines.
import { quoteExternal } from '../common/external-text.js';

export const REDACTED = '<redacted>';

const MAX_SHOWN = 200;

/** A value as it appears in a message: quoted, cleaned of control and bidi characters, bounded. */
export function quote(value: string): string {
  return quoteExternal(value, MAX_SHOWN);
}

/**
 * An OPTS string with every value replaced: `size=<redacted>,iops=<redacted>`. Items without
 * `=` and items whose key is not a valid key may be fragments of a value that held a comma,
 * so they are redacted whole.
 */
export function redactOptionsText(raw: string, isValidKey: (key: string) => boolean): string {
  return raw
    .split(',')
    .filter((item) => item.trim() !== '')
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq < 0) return REDACTED;
      const key = item.slice(0, eq).trim();
      return isValidKey(key) ? `${key}=${REDACTED}` : `<invalid key>=${REDACTED}`;
    })
    .join(',');
}

/** Option keys kept, values replaced; for /status and start-up logs. */
export function redactOptions(opts: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.keys(opts).map((key) => [key, REDACTED]));
}

/**
 * A URL with everything that may hold a secret replaced: the password
 * (`redis://user:<redacted>@host:6379/0`; a user part without password is replaced whole, as old
 * Redis URL conventions put the password there), every query value (ioredis honours
 * `?password=`, `?sentinelPassword=`…: keys are kept, values replaced) and the fragment. The
 * user name is kept: it names an ACL identity, which the operator needs to see. Text that does
 * not parse as a URL but holds an `@` loses everything before the last `@` (after the scheme),
 * because that is where a password would be, and everything from the first `?` or `#`.
 */
export function redactUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url !== undefined && url.host !== '') {
    if (url.username === '' && url.password === '' && url.search === '' && url.hash === '') return raw;
    const userinfo = url.username === '' && url.password === '' ? '' : `${url.password === '' ? REDACTED : `${url.username}:${REDACTED}`}@`;
    const keys = [...url.searchParams.keys()];
    const search = url.search === '' ? '' : `?${keys.length === 0 ? REDACTED : keys.map((key) => `${encodeURIComponent(key)}=${REDACTED}`).join('&')}`;
    const hash = url.hash === '' ? '' : `#${REDACTED}`;
    return `${url.protocol}//${userinfo}${url.host}${url.pathname}${search}${hash}`;
  }
  const cut = raw.search(/[?#]/);
  const base = cut < 0 ? raw : `${raw.slice(0, cut)}${raw[cut]}${REDACTED}`;
  const at = base.lastIndexOf('@');
  if (at < 0) return base;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(base)?.[0] ?? '';
  return `${scheme}${REDACTED}@${base.slice(at + 1)}`;
}

const SECRET_KEY = /pass|secret|token|auth|key|cred/i;
const PLAIN_OPTION_VALUE = /^(true|false|yes|no|on|off|null|\d{1,6})$/i;

/**
 * The values inside a URL that are secrets or may be (password, user-only part, query values,
 * fragment), decoded and as written, for the logger's last-line scrubber (see common/logger).
 */
export function urlSecrets(raw: string): string[] {
  const out = new Set<string>();
  const add = (value: string): void => {
    if (value.length < 3) return; // too short to scrub without mangling ordinary text
    out.add(value);
    try {
      out.add(decodeURIComponent(value));
    } catch {
      // not percent-encoded text: the raw form is enough
    }
  };
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined) {
    const at = raw.lastIndexOf('@');
    if (at >= 0) add(raw.slice(0, at).replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, ''));
    return [...out];
  }
  if (url.password !== '') add(url.password);
  else if (url.username !== '') add(url.username);
  for (const [key, value] of url.searchParams) {
    // Scrubbing "true" or "4" from every log line would mangle the JSON of ordinary lines; such
    // values are options (tls=true, family=4), unless their key says they are credentials.
    if (SECRET_KEY.test(key) || !PLAIN_OPTION_VALUE.test(value)) add(value);
  }
  if (url.hash.length > 1) add(url.hash.slice(1));
  return [...out];
}
