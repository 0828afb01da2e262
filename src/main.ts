// Composition root: the only place that touches the process itself — its environment (handed
// to config/ by the commands), hostname, clock, output streams and signals. Every command's
// flow lives with the command in cli/ and builds the node's services through
// wiring/node-services.ts; this module hands each one the real process.
import { hostname } from 'node:os';
import { systemClock, type Clock } from './common/clock.js';
import type { Env } from './config/index.js';

export interface ProcessContext {
  env: Env;
  hostname: string;
  clock: Clock;
  /** Resolves once the text is flushed (a short-lived command exits right after). */
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  /** Calls `listener` with the name of each SIGTERM/SIGINT. */
  onShutdownSignal(listener: (signal: string) => void): void;
}

export function processContext(): ProcessContext {
  return {
    env: process.env,
    hostname: hostname(),
    clock: systemClock,
    stdout: (text) => new Promise<void>((resolve) => process.stdout.write(text, () => resolve())),
    stderr: (text) => {
      process.stderr.write(text);
    },
    onShutdownSignal(listener) {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => listener(signal));
    },
  };
}
