// How secrets look when config/ has to talk about them: driver option values and URL passwords
// never leave this module in clear text. Messages quote values through `quote`, which escapes
// control characters and bounds the length, so a hostile value cannot forge log lines.

export const REDACTED = '<redacted>';

const MAX_SHOWN = 200;

/** A value as it appears in a message: JSON-quoted (escapes controls and quotes), bounded. */
export function quote(value: string): string {
  const bounded = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value;
  return JSON.stringify(bounded);
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
 * A URL with its password replaced (`redis://user:<redacted>@host:6379/0`); a user part
 * without password is replaced whole. Text that does
 * not parse as a URL but holds an `@` loses everything before the last `@` (after the scheme),
 * because that is where a password would be.
 */
export function redactUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url !== undefined && url.host !== '') {
    if (url.username === '' && url.password === '') return raw;
    // A lone user part is redacted too: old redis URL conventions put the password there.
    const userinfo = url.password === '' ? REDACTED : `${url.username}:${REDACTED}`;
    return `${url.protocol}//${userinfo}@${url.host}${url.pathname}${url.search}${url.hash}`;
  }
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(raw)?.[0] ?? '';
  return `${scheme}${REDACTED}@${raw.slice(at + 1)}`;
}
