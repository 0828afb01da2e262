// The error tree of the volume plugin client. Every failure of a driver call is one of these,
// with a stable `code`, the context fields `driver`, `method` and `volume`, and exit code 3
// (CONTRACT: driver/mount failure). Messages name the driver, the method and the volume so a
// log line alone says what failed. Option *values* never appear here: callers pass keys only,
// and plugin replies are scrubbed of option values before they become messages.
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError, ExitCode, type ErrorContext } from '../common/errors.js';
import { cleanExternalText, quoteExternal } from '../common/external-text.js';

/** What a driver call was about, for messages and context fields. */
export interface CallSite {
  driver: string;
  /** Protocol method without the `VolumeDriver.` prefix (`Mount`), or `Plugin.Activate`, or `Discovery`. */
  method: string;
  volume?: string | undefined;
  /** The preparatory step that failed on the way to `method` (`Plugin.Activate`), if any. */
  step?: string | undefined;
}

/** The call in words. The driver and volume names may be a store record's (the reconciler
 * Unmounts what the store recorded): quoted and cleaned. */
export function describeCall(site: CallSite): string {
  const method = site.method === 'Plugin.Activate' || site.method === 'Discovery' ? site.method : `VolumeDriver.${site.method}`;
  const volume = site.volume === undefined ? '' : ` of volume ${quoteExternal(site.volume)}`;
  const step = site.step === undefined ? '' : ` (at ${site.step})`;
  return `${method}${volume} on driver ${quoteExternal(site.driver)}${step}`;
}

export abstract class DriverError extends DvdiError {
  readonly driver: string;
  readonly method: string;
  readonly volume: string | undefined;
  readonly step: string | undefined;

  protected constructor(code: ErrorCode, site: CallSite, detail: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(code, `${describeCall(site)}: ${detail}`, {
      context: { driver: site.driver, method: site.method, volume: site.volume, step: site.step, ...(options.context ?? {}) },
      cause: options.cause,
      exitCode: ExitCode.MountFailed,
    });
    this.driver = site.driver;
    this.method = site.method;
    this.volume = site.volume;
    this.step = site.step;
  }
}

/** No plugin of that name was found (after waiting the discovery budget). */
export class DriverNotFoundError extends DriverError {
  constructor(site: CallSite, detail: string, context?: ErrorContext) {
    super('DVDI_DRIVER_NOT_FOUND', site, detail, { context });
  }
}

/** A plugin description file (.spec / .json) exists but cannot be used. Not retried. */
export class DriverBadSpecError extends DriverError {
  constructor(site: CallSite, file: string, detail: string, cause?: unknown) {
    super('DVDI_DRIVER_BAD_SPEC', site, `plugin file ${file}: ${detail}`, { cause, context: { file } });
  }
}

/**
 * The plugin could not be reached (connection refused, socket missing, reset before any reply).
 * `retryable` is true when no reply had started: only those are retried.
 */
export class DriverUnreachableError extends DriverError {
  readonly retryable: boolean;
  constructor(site: CallSite, address: string, detail: string, retryable: boolean, cause?: unknown) {
    super('DVDI_DRIVER_UNREACHABLE', site, `plugin at ${address} unreachable: ${detail}`, { cause, context: { address } });
    this.retryable = retryable;
  }
}

/** No reply within the call's time limit. Never retried: the plugin may have done the work. */
export class DriverTimeoutError extends DriverError {
  readonly timeoutMs: number;
  constructor(site: CallSite, timeoutMs: number) {
    super('DVDI_DRIVER_TIMEOUT', site, `no reply within ${timeoutMs} ms (the plugin may still complete it; reconcile before retrying)`, {
      context: { timeoutMs },
    });
    this.timeoutMs = timeoutMs;
  }
}

/** The plugin answered with a failure: a non-200 status, or 200 with a non-empty `Err`. */
export class DriverRefusedError extends DriverError {
  readonly status: number;
  /** The plugin's own message (scrubbed of option values, cleaned and capped). */
  readonly pluginMessage: string;
  constructor(site: CallSite, status: number, pluginMessage: string) {
    // Quoted: the text is the plugin's, and a reader must see where it starts and ends.
    const quoted = `"${pluginMessage.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    super('DVDI_DRIVER_REFUSED', site, status === 200 ? `plugin error: ${quoted}` : `plugin replied HTTP ${status}: ${quoted}`, {
      context: { status },
    });
    this.status = status;
    this.pluginMessage = pluginMessage;
  }
}

/** The plugin answered 200 with something that is not the reply the protocol defines. */
export class DriverBadReplyError extends DriverError {
  constructor(site: CallSite, detail: string, cause?: unknown) {
    super('DVDI_DRIVER_BAD_REPLY', site, `malformed reply: ${detail}`, { cause });
  }
}

/** Plugin.Activate succeeded but the plugin does not implement `VolumeDriver`. */
export class NotVolumeDriverError extends DriverError {
  constructor(site: CallSite, implementsList: readonly string[]) {
    super('DVDI_DRIVER_NOT_VOLUME_DRIVER', site, `plugin implements [${implementsList.join(', ')}], not VolumeDriver`, {
      context: { implements: implementsList.join(',') },
    });
  }
}

/** The call was cancelled through its AbortSignal. */
export class DriverAbortedError extends DriverError {
  constructor(site: CallSite, cause?: unknown) {
    super('DVDI_DRIVER_ABORTED', site, 'aborted', { cause });
  }
}

/**
 * The one rule for "this failed Mount may still have mounted in the plugin": the request reached
 * the plugin and no refusal came back — it timed out, was cut short, was answered with a reply
 * that is not the protocol's, or the connection broke after the reply had started. Such a Mount
 * is followed by an Unmount of its ID (unknown IDs succeed) and stays in the node's ledger. A
 * Mount the plugin refused, or one that never reached it, gets no Unmount (moby#22564).
 */
export function mountMayHaveHappened(error: unknown): boolean {
  if (!(error instanceof DriverError)) return false;
  switch (error.code) {
    case ErrorCode.DriverTimeout:
    case ErrorCode.DriverAborted:
    case ErrorCode.DriverBadReply:
      return true;
    case ErrorCode.DriverUnreachable:
      return error instanceof DriverUnreachableError && !error.retryable;
    default:
      return false;
  }
}

/**
 * Make plugin-supplied text safe for messages and logs: replace every option value (of four
 * characters or more — shorter ones such as sizes are not secrets and would blank out unrelated
 * text) by a placeholder naming its key, then clean it as all external text is (control and bidi
 * characters out, capped: common/external-text). Values are replaced before the cap, so a
 * value cut in half by the cap cannot survive as a fragment.
 */
export function scrubPluginText(text: string, opts?: Readonly<Record<string, string>>): string {
  let out = text;
  if (opts !== undefined) {
    const entries = Object.entries(opts).filter(([, value]) => value.length >= 4);
    entries.sort((a, b) => b[1].length - a[1].length); // longest first, so a value containing another is removed whole
    for (const [key, value] of entries) out = out.split(value).join(`<value of ${key}>`);
  }
  return cleanExternalText(out).trim();
}
