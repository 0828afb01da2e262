// Waiting for a store at process start: Redis connects in the background and fails commands
// fast until then (no offline queue), so a starting process pings within a budget instead of
// taking the first refusal as an outage.
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { StoreStateCorruptError } from './refcount-errors.js';
import type { RefcountStore } from './refcount-store.js';

/** How long a starting process gives the store to answer. */
export const STORE_CONNECT_BUDGET_MS = 10_000;

/** Ping until the store answers (true) or the budget is spent (false), logging every 2 s; a
 * corrupt embedded state file is thrown at once. */
export async function storeAnswers(store: RefcountStore, budgetMs = STORE_CONNECT_BUDGET_MS, logger?: Logger, clock: Clock = systemClock): Promise<boolean> {
  const deadline = clock.monotonic() + budgetMs;
  let lastLog = clock.monotonic();
  for (;;) {
    // A ping that throws (a corrupt state file) names a problem waiting cannot fix: report it now.
    if (await store.ping().catch((error: unknown) => {
      if (error instanceof StoreStateCorruptError) throw error;
      return false;
    })) return true;
    if (clock.monotonic() >= deadline) return false;
    if (clock.monotonic() - lastLog >= 2000) {
      lastLog = clock.monotonic();
      logger?.info({ backend: store.backend }, 'waiting for the refcount store to answer');
    }
    await clock.sleep(100);
  }
}
