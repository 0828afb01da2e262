// The task's app container (DVDI_TASK_CONTAINER): its DVDI_VOLUME_* labels at start, and the
// watch that tells the sidecar when it has ended so it can detach even if nobody signals it.
// The watch subscribes to `die`/`destroy` events first and inspects the state second, so a
// death between the two cannot be missed; when the stream breaks it reconnects with backoff,
// catches up with `since` = the last event time seen (or the last time it was connected), and
// inspects again in case the container ended while nobody was listening.
import type { Clock } from '../common/clock.js';
import { AbortedError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { retry, type BackoffOptions } from '../common/retry.js';
import type { ContainerDetails, ContainerRuntime } from './container-runtime.js';
import { DockerUnavailableError, TaskContainerNotFoundError } from './docker-errors.js';

/** Labels that can be volume requests (any case, so config/ can name a miscased one). */
export function volumeLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([key]) => /^dvdi_volume_/i.test(key)));
}

export interface ReadTaskContainerOptions {
  runtime: ContainerRuntime;
  /** DVDI_TASK_CONTAINER. */
  container: string;
  /** DOCKER_HOST, for messages. */
  dockerHost: string;
  clock: Clock;
  /** Containers of a pod may start together: wait this long for the container to appear. */
  backoff?: Partial<BackoffOptions>;
  signal?: AbortSignal;
  onRetry?: (error: unknown, delayMs: number) => void;
}

export const DEFAULT_READ_BACKOFF: BackoffOptions = { initialMs: 250, maxDelayMs: 4_000, budgetMs: 30_000 };

/**
 * The task container's details, waiting (with backoff) while the engine is unreachable or
 * does not know the container yet. Throws TaskContainerNotFoundError (exit 2) or
 * DockerUnavailableError (exit 4) once the budget is spent.
 */
export async function readTaskContainer(options: ReadTaskContainerOptions): Promise<ContainerDetails> {
  const started = options.clock.monotonic();
  return retry({
    ...DEFAULT_READ_BACKOFF,
    ...options.backoff,
    clock: options.clock,
    signal: options.signal,
    retryable: (error) => error instanceof TaskContainerNotFoundError || error instanceof DockerUnavailableError,
    onRetry: (error, _attempt, delayMs) => options.onRetry?.(error, delayMs),
    attempt: async () => {
      const details = await options.runtime.inspectContainer(options.container);
      if (details === undefined) throw new TaskContainerNotFoundError(options.container, options.dockerHost, Math.round(options.clock.monotonic() - started));
      return details;
    },
  });
}

/** Why the task container counts as ended. */
export interface ContainerEnded {
  id: string;
  /** `die`/`destroy`: an event said so; `exited`: its state said so; `gone`: it no longer exists. */
  how: 'die' | 'destroy' | 'exited' | 'gone';
  exitCode: number | undefined;
}

/** Container states after which it will not run again without someone starting it anew. */
const ENDED_STATES = new Set(['exited', 'dead', 'removing']);

export interface TaskContainerWatchStatus {
  container: string;
  name: string;
  connected: boolean;
  reconnects: number;
  /** Engine time (seconds) of the last event seen, if any. */
  lastEventTime: number | undefined;
  ended: ContainerEnded | undefined;
}

export interface TaskContainerWatchOptions {
  runtime: ContainerRuntime;
  container: ContainerDetails;
  clock: Clock;
  logger: Logger;
  /** Delay between reconnects: initial, doubled, capped. Default 500 ms up to 10 s. */
  reconnect?: { initialMs: number; maxDelayMs: number };
}

export class TaskContainerWatch {
  private readonly runtime: ContainerRuntime;
  private readonly id: string;
  private readonly name: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly reconnect: { initialMs: number; maxDelayMs: number };
  private connected = false;
  private reconnects = 0;
  private lastEventTime: number | undefined;
  private ended: ContainerEnded | undefined;

  constructor(options: TaskContainerWatchOptions) {
    this.runtime = options.runtime;
    this.id = options.container.id;
    this.name = options.container.name;
    this.clock = options.clock;
    this.logger = options.logger;
    this.reconnect = options.reconnect ?? { initialMs: 500, maxDelayMs: 10_000 };
  }

  status(): TaskContainerWatchStatus {
    return { container: this.id, name: this.name, connected: this.connected, reconnects: this.reconnects, lastEventTime: this.lastEventTime, ended: this.ended };
  }

  /**
   * Resolves when the container has ended, or with undefined when `signal` aborts first.
   * Never rejects: an engine that cannot be reached is retried for as long as the watch runs.
   */
  async run(signal: AbortSignal): Promise<ContainerEnded | undefined> {
    let since: number | undefined;
    let delay = this.reconnect.initialMs;
    while (!signal.aborted) {
      const attempt = new AbortController();
      const abortAttempt = () => attempt.abort();
      signal.addEventListener('abort', abortAttempt, { once: true });
      try {
        const connectedAt = Math.floor(this.clock.now() / 1000);
        const events = await this.runtime.containerEndEvents(this.id, { since, signal: attempt.signal });
        this.connected = true;
        delay = this.reconnect.initialMs;
        this.logger.debug({ container: this.id, since }, 'watching the task container');
        const state = await this.runtime.inspectContainer(this.id);
        if (state === undefined) return this.end({ id: this.id, how: 'gone', exitCode: undefined });
        // `created` is not ended: in a pod the sidecar may be up before the app container starts.
        if (!state.running && ENDED_STATES.has(state.status)) return this.end({ id: this.id, how: 'exited', exitCode: state.exitCode });
        // From here on nothing before this connection matters: catch up from it after a break.
        since = Math.max(since ?? 0, connectedAt - 1);
        for await (const event of events) {
          this.lastEventTime = event.time;
          since = event.time;
          if (event.action === 'die' || event.action === 'destroy') return this.end({ id: this.id, how: event.action, exitCode: event.exitCode });
        }
        if (signal.aborted) return undefined;
        this.logger.warn({ container: this.id }, 'the Docker event stream ended; reconnecting');
      } catch (error) {
        if (signal.aborted) return undefined;
        this.logger.warn({ container: this.id, err: describeError(error), retryInMs: delay }, 'watching the task container failed; reconnecting');
      } finally {
        signal.removeEventListener('abort', abortAttempt);
        attempt.abort();
        this.connected = false;
      }
      this.reconnects += 1;
      try {
        await this.clock.sleep(delay, signal);
      } catch (error) {
        if (error instanceof AbortedError) return undefined;
        throw error;
      }
      delay = Math.min(delay * 2, this.reconnect.maxDelayMs);
    }
    return undefined;
  }

  private end(ended: ContainerEnded): ContainerEnded {
    this.ended = ended;
    this.logger.info({ container: this.id, how: ended.how, exitCode: ended.exitCode }, 'the task container has ended');
    return ended;
  }
}
