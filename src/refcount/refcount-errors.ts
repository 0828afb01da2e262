// Typed errors of the refcount stores. Callers branch on `code` / `instanceof`; the exit code is
// what `dvdi sidecar` ends with when one of these reaches the top (CONTRACT exit codes).
import { ErrorCode } from '../common/error-codes.js';
import { DvdiError, ExitCode } from '../common/errors.js';
import { cleanExternalText as clean, showExternal as x } from '../common/external-text.js';

/** The embedded store's lock file stayed held by a live owner for longer than the bounded wait. */
export class StoreLockTimeoutError extends DvdiError {
  /**
   * `heldForMs`: how long the last owner had held it when the wait ended; `handOvers`: how often
   * the lock changed hands during the wait (0: one owner held it all along).
   */
  constructor(lockPath: string, waitedMs: number, owner: string | undefined, how: { heldForMs: number; handOvers: number }) {
    const who = owner ?? 'an unknown owner';
    const waited = Math.round(waitedMs);
    const held = Math.round(how.heldForMs);
    const message =
      how.handOvers === 0
        ? `state lock ${lockPath} still held by ${who} after ${waited} ms`
        : `state lock ${lockPath} not free for this process after ${waited} ms: it changed hands ${how.handOvers} times meanwhile (the node's other sidecars kept it busy); held now by ${who}, for ${held} ms`;
    super('DVDI_STORE_LOCK_TIMEOUT', message, {
      context: { lockPath, waitedMs: waited, owner, heldForMs: held, handOvers: how.handOvers },
      exitCode: ExitCode.Unavailable,
    });
  }
}

/** The state file exists but is not a state this code wrote: never guess, never overwrite it. */
export class StoreStateCorruptError extends DvdiError {
  constructor(statePath: string, problem: string, cause: unknown) {
    super(
      'DVDI_STORE_STATE_CORRUPT',
      `state file ${statePath} is not a valid refcount state: ${problem}; nothing was changed. ` +
        `The state before the last write is in ${statePath}.prev: check it, then copy it over ${statePath} (or move ${statePath} away to start empty)`,
      { context: { statePath }, cause, exitCode: ExitCode.Unavailable },
    );
  }
}

/** The store could not be read or written (permissions, disk full, lock file I/O…). */
export class StoreIoError extends DvdiError {
  constructor(what: string, path: string, cause: unknown) {
    super('DVDI_STORE_IO', `${what} ${path} failed`, { context: { what, path }, cause, exitCode: ExitCode.Unavailable });
  }
}

/** An operation on a store after close(). */
export class StoreClosedError extends DvdiError {
  constructor(backend: string) {
    super('DVDI_STORE_CLOSED', `${backend} refcount store is closed`, { context: { backend }, exitCode: ExitCode.Internal });
  }
}

/** A request the model refuses because no correct caller sends it (a bug on the caller's side). */
export class StoreMisuseError extends DvdiError {
  constructor(message: string, context: Record<string, string | number | undefined>) {
    super('DVDI_STORE_MISUSE', message, { context, exitCode: ExitCode.Internal });
  }
}

/** The store's backend cannot be reached now (Redis down, connection lost, not yet connected).
 * The command was not run, or its outcome is unknown; it is never replayed later. */
export class StoreUnavailableError extends DvdiError {
  /** The one store-unavailable error of every module (store backends, lifecycle, commands):
   * `about.volume` names the volume the operation was for, `about.waitedMs` how long a starting
   * process waited for a first answer. Always exit 4. The volume may be a store record's (the
   * reconciler's come from the node index): shown through showExternal. */
  constructor(backend: string, operation: string, cause: unknown, about: { volume?: string; waitedMs?: number } = {}) {
    const volume = about.volume === undefined ? '' : ` of volume ${x(about.volume)}`;
    const waited = about.waitedMs === undefined ? '' : ` (no answer within ${about.waitedMs} ms)`;
    super('DVDI_STORE_UNAVAILABLE', `${backend} refcount store unavailable during ${operation}${volume}${waited}`, {
      context: { backend, operation, volume: about.volume === undefined ? undefined : clean(about.volume), waitedMs: about.waitedMs },
      cause,
      exitCode: ExitCode.Unavailable,
    });
  }
}

/** The backend did not answer within the command timeout; the outcome of the command is unknown. */
export class StoreTimeoutError extends DvdiError {
  constructor(backend: string, operation: string, timeoutMs: number) {
    super('DVDI_STORE_TIMEOUT', `${backend} refcount store did not answer ${operation} within ${timeoutMs} ms`, {
      context: { backend, operation, timeoutMs },
      exitCode: ExitCode.Unavailable,
    });
  }
}

/** The backend answered with something this code does not write (an error reply, a foreign
 * record in our key, a reply of the wrong shape). Never guessed around. */
export class StoreReplyError extends DvdiError {
  constructor(backend: string, operation: string, detail: string, cause?: unknown) {
    super('DVDI_STORE_REPLY', `${backend} refcount store: unexpected reply to ${operation}: ${detail}`, {
      context: { backend, operation, detail },
      cause,
      exitCode: ExitCode.Unavailable,
    });
  }
}

/** A volume's stored record does not have the shape this code writes (holders that are not a
 * list of holder entries, an epoch that is not a non-negative integer, …): someone else wrote
 * the key, or it is damaged. Fail closed: nothing was granted, renewed or released. The volume
 * and its key may come from the store itself (an index member of any length): shown cleaned. */
export class StoreRecordInvalidError extends DvdiError {
  constructor(backend: string, operation: string, volume: { driver: string; name: string }, key: string, detail?: string) {
    super(
      ErrorCode.StoreRecordInvalid,
      `${backend} refcount store: the record of volume ${x(volume.driver)}/${x(volume.name)} (key ${clean(key, 512)}) is not a refcount record${detail === undefined ? '' : ` (${detail})`}; ${operation} refused, nothing granted — delete or repair the key`,
      { context: { backend, operation, driver: clean(volume.driver), volume: clean(volume.name), key: clean(key, 512), detail }, exitCode: ExitCode.Unavailable },
    );
  }
}
