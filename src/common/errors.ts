// The error base of every module: a stable machine-readable `code`, context fields that name
// what failed (driver, volume, variable…), an optional `cause`, and the exit code a command
// should end with when this error reaches the top. Callers branch on `code` or `instanceof`,
// never on message text.

import { inspect } from 'node:util';
import type { ErrorCode } from './error-codes.js';

/** Exit codes of `dvdi sidecar` (docs/contract.md). */
export const ExitCode = {
  Ok: 0,
  Internal: 1,
  Config: 2,
  MountFailed: 3,
  Unavailable: 4,
  Fenced: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

export class DvdiError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  readonly exitCode: ExitCode;

  constructor(
    code: ErrorCode,
    message: string,
    options: { context?: ErrorContext; cause?: unknown; exitCode?: ExitCode } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
    this.exitCode = options.exitCode ?? ExitCode.Internal;
  }
}

/** An invariant of our own code broke: a bug, exit 1. */
export class InternalError extends DvdiError {
  constructor(message: string, context?: ErrorContext, cause?: unknown) {
    super('DVDI_INTERNAL', message, { context, cause, exitCode: ExitCode.Internal });
  }
}

/** An operation was cancelled through its AbortSignal (shutdown while waiting). */
export class AbortedError extends DvdiError {
  constructor(what: string, cause?: unknown) {
    super('DVDI_ABORTED', `${what}: aborted`, { context: { what }, cause, exitCode: ExitCode.Ok });
  }
}

/** The exit code for anything thrown: a DvdiError carries its own, anything else is a bug. */
export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof DvdiError ? error.exitCode : ExitCode.Internal;
}

/** A one-line description with the cause chain, for logs and stderr. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(typeof current === 'string' ? current : inspect(current, { depth: 1, breakLength: Infinity }));
      break;
    }
  }
  return parts.join(': caused by: ');
}
