// Logging: JSON lines on stderr (pino), one logger per process, child loggers per module.
// Option values never reach a log line: callers log option *keys* only (see config/redact).
// Two nets behind that rule, because a library may echo a secret we never passed it as text:
// the error serializer drops the arguments of a failed client command (ioredis attaches
// `command: {name: 'auth', args: [user, password]}` to a refused AUTH), and every finished line
// has the process's registered secrets (the Redis URL's password and query values) replaced.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SCRUBBED = '<redacted>';
const secrets = new Set<string>();

/**
 * Never print `value` in a log line of this process. Config calls it for every secret it reads
 * (a process-wide set: secrets are process-wide, and loggers are made before and after config).
 */
export function hideInLogs(value: string): void {
  if (value.length >= 3) secrets.add(value);
}

/** `line` with every registered secret replaced, in its plain and its JSON-escaped form. */
export function scrubSecrets(line: string): string {
  let out = line;
  for (const secret of secrets) {
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      if (out.includes(form)) out = out.split(form).join(SCRUBBED);
    }
  }
  return out;
}

/** pino's error serializer, minus the arguments of client commands, through the cause chain. */
function errWithoutCommandArgs(error: Error): Record<string, unknown> {
  const out = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  const strip = (value: unknown, depth: number): void => {
    if (typeof value !== 'object' || value === null || depth > 5) return;
    const record = value as Record<string, unknown>;
    const command = record.command;
    if (typeof command === 'object' && command !== null && 'args' in command) {
      const args = (command as { args?: unknown }).args;
      record.command = { ...(command as Record<string, unknown>), args: Array.isArray(args) ? `<${args.length} arguments>` : SCRUBBED };
    }
    strip(record.cause, depth + 1);
    for (const nested of Array.isArray(record.aggregateErrors) ? record.aggregateErrors : []) strip(nested, depth + 1);
  };
  strip(out, 0);
  return out;
}

export function createLogger(level: LogLevel = 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: errWithoutCommandArgs },
      hooks: { streamWrite: scrubSecrets },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything, for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
