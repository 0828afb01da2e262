// Time as an injected dependency: production uses the system clock, unit tests a fake one.
// `sleep` honours an AbortSignal so that every wait can be cut short by shutdown.
import { setTimeout as delay } from 'node:timers/promises';
import { AbortedError } from './errors.js';

export interface Clock {
  /** Milliseconds since the epoch (wall clock; for logs and timestamps only). */
  now(): number;
  /** Monotonic milliseconds, for measuring durations and deadlines. */
  monotonic(): number;
  /** Resolves after `ms`; rejects with AbortedError when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  async sleep(ms, signal) {
    try {
      await delay(ms, undefined, signal ? { signal } : undefined);
    } catch (error) {
      if (signal?.aborted) throw new AbortedError('sleep', signal.reason);
      throw error;
    }
  },
};
