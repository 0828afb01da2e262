// Exponential backoff against an injected clock. Used for connection errors only: the caller's
// `retryable` decides, so a refused request is never replayed.
import type { Clock } from './clock.js';

export interface BackoffOptions {
  /** First delay in ms. */
  initialMs: number;
  /** Upper bound of one delay in ms. */
  maxDelayMs: number;
  /** Give up once the total time spent waiting would reach this many ms. */
  budgetMs: number;
}

export interface RetryOptions<T> extends BackoffOptions {
  clock: Clock;
  retryable: (error: unknown) => boolean;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  attempt: (attempt: number) => Promise<T>;
}

/** Delays of a backoff schedule: initial, doubled each time, capped, until the budget is spent. */
export function backoffDelays(options: BackoffOptions): number[] {
  const delays: number[] = [];
  let next = options.initialMs;
  let total = 0;
  while (total + next <= options.budgetMs) {
    delays.push(next);
    total += next;
    next = Math.min(next * 2, options.maxDelayMs);
  }
  return delays;
}

export async function retry<T>(options: RetryOptions<T>): Promise<T> {
  const delays = backoffDelays(options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await options.attempt(attempt);
    } catch (error) {
      const delayMs = delays[attempt - 1];
      if (delayMs === undefined || !options.retryable(error)) throw error;
      options.onRetry?.(error, attempt, delayMs);
      await options.clock.sleep(delayMs, options.signal);
    }
  }
}
