// The task container watch and label read against a scripted fake engine: die/destroy events,
// reconnects that catch up with `since`, a death noticed by inspect after a reconnect, states
// that are not an end, waiting for a container that does not exist yet, and abort.
import test from 'ava';
import { systemClock } from '../../../src/common/clock.js';
import { ExitCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import type { ContainerDetails, ContainerEvent, ContainerRuntime } from '../../../src/docker/container-runtime.js';
import { DockerUnavailableError } from '../../../src/docker/docker-errors.js';
import { dockerodeOptions, parseEventLine } from '../../../src/docker/dockerode-runtime.js';
import { TaskContainerWatch, readTaskContainer, volumeLabels } from '../../../src/docker/task-container.js';

const running: ContainerDetails = { id: 'c0ffee', name: 'app', labels: {}, running: true, status: 'running', exitCode: 0 };

/** One subscription: events to yield, then how the stream ends. */
interface Script {
  subscribe?: Error;
  state?: ContainerDetails | undefined;
  events?: ContainerEvent[];
  end?: 'close' | Error | 'hang';
}

function scriptedRuntime(scripts: Script[]) {
  const subscriptions: { since: number | undefined }[] = [];
  let current: Script | undefined;
  const runtime: ContainerRuntime = {
    inspectContainer: () => Promise.resolve(current !== undefined && 'state' in current ? current.state : running),
    containerEndEvents: (_id, options) => {
      const script = scripts.shift() ?? { end: 'hang' };
      current = script;
      subscriptions.push({ since: options.since });
      if (script.subscribe) return Promise.reject(script.subscribe);
      async function* events(): AsyncGenerator<ContainerEvent> {
        for (const event of script.events ?? []) yield event;
        if (script.end instanceof Error) throw script.end;
        if (script.end === 'hang') {
          await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      }
      return Promise.resolve(events());
    },
    listPlugins: () => Promise.resolve([]),
    dockerRootDir: () => Promise.resolve('/var/lib/docker'),
  };
  return { runtime, subscriptions };
}

function watch(runtime: ContainerRuntime, clock = systemClock): TaskContainerWatch {
  return new TaskContainerWatch({ runtime, container: running, clock, logger: silentLogger(), reconnect: { initialMs: 1, maxDelayMs: 4 } });
}

test('a die event ends the watch with the exit code', async (t) => {
  const { runtime } = scriptedRuntime([{ events: [{ action: 'die', id: 'c0ffee', time: 1000, exitCode: 137 }] }]);
  const w = watch(runtime);
  const ended = await w.run(new AbortController().signal);
  t.deepEqual(ended, { id: 'c0ffee', how: 'die', exitCode: 137 });
  t.deepEqual(w.status().ended, ended);
  t.is(w.status().lastEventTime, 1000);
});

test('a broken stream reconnects and catches up from the last event time', async (t) => {
  const { runtime, subscriptions } = scriptedRuntime([
    { events: [{ action: 'start', id: 'c0ffee', time: 2000, exitCode: undefined }], end: new Error('socket hang up') },
    { subscribe: new DockerUnavailableError('unix:///d.sock', 'subscribe', 'ECONNREFUSED') },
    { events: [{ action: 'destroy', id: 'c0ffee', time: 2005, exitCode: undefined }] },
  ]);
  const w = watch(runtime);
  const ended = await w.run(new AbortController().signal);
  t.is(ended?.how, 'destroy');
  t.is(subscriptions[0]!.since, undefined, 'the first subscription needs no catch-up: the state check follows it');
  t.is(subscriptions[1]!.since, 2000);
  t.is(subscriptions[2]!.since, 2000);
  t.is(w.status().reconnects, 2);
});

test('without events, the catch-up starts a second before the last connection', async (t) => {
  const fixedNow = 1_700_000_000_500;
  const clock = { ...systemClock, now: () => fixedNow };
  const { runtime, subscriptions } = scriptedRuntime([{ end: 'close' }, { events: [{ action: 'die', id: 'c0ffee', time: 1_700_000_010, exitCode: 0 }] }]);
  await watch(runtime, clock).run(new AbortController().signal);
  t.is(subscriptions[1]!.since, 1_699_999_999);
});

test('a container that died while the stream was down is noticed by the state check after reconnecting', async (t) => {
  const exited: ContainerDetails = { ...running, running: false, status: 'exited', exitCode: 2 };
  const { runtime } = scriptedRuntime([{ end: new Error('EOF') }, { state: exited, end: 'hang' }]);
  t.deepEqual(await watch(runtime).run(new AbortController().signal), { id: 'c0ffee', how: 'exited', exitCode: 2 });
});

test('a container that is gone counts as ended; one that is only created does not', async (t) => {
  const gone = scriptedRuntime([{ state: undefined }]);
  t.is((await watch(gone.runtime).run(new AbortController().signal))?.how, 'gone');

  const created: ContainerDetails = { ...running, running: false, status: 'created' };
  const { runtime } = scriptedRuntime([{ state: created, events: [{ action: 'die', id: 'c0ffee', time: 5, exitCode: 1 }] }]);
  t.is((await watch(runtime).run(new AbortController().signal))?.how, 'die', 'the created container is watched until it dies');
});

test('abort ends the watch with undefined, also while waiting to reconnect', async (t) => {
  const { runtime } = scriptedRuntime([{ end: 'hang' }]);
  const controller = new AbortController();
  const w = watch(runtime);
  const watching = w.run(controller.signal);
  await new Promise((r) => setTimeout(r, 20));
  t.true(w.status().connected);
  controller.abort();
  t.is(await watching, undefined);
  t.false(w.status().connected);

  const failing = scriptedRuntime(Array.from({ length: 50 }, () => ({ subscribe: new Error('ECONNREFUSED') })));
  const slow = new TaskContainerWatch({ runtime: failing.runtime, container: running, clock: systemClock, logger: silentLogger(), reconnect: { initialMs: 10_000, maxDelayMs: 10_000 } });
  const second = new AbortController();
  const pending = slow.run(second.signal);
  await new Promise((r) => setTimeout(r, 20));
  second.abort();
  t.is(await pending, undefined);
});

test('readTaskContainer waits for a container that appears later, and gives up with exit 2 naming DVDI_TASK_CONTAINER', async (t) => {
  let calls = 0;
  const later: ContainerRuntime = {
    ...scriptedRuntime([]).runtime,
    inspectContainer: () => Promise.resolve(++calls < 3 ? undefined : { ...running, labels: { DVDI_VOLUME_NAME: 'v1', other: 'x' } }),
  };
  const details = await readTaskContainer({ runtime: later, container: 'app', dockerHost: 'unix:///d.sock', clock: systemClock, backoff: { initialMs: 1, maxDelayMs: 2, budgetMs: 100 } });
  t.is(calls, 3);
  t.deepEqual(volumeLabels(details.labels), { DVDI_VOLUME_NAME: 'v1' });

  const never: ContainerRuntime = { ...later, inspectContainer: () => Promise.resolve(undefined) };
  const error = await t.throwsAsync(readTaskContainer({ runtime: never, container: 'nope', dockerHost: 'unix:///d.sock', clock: systemClock, backoff: { initialMs: 1, maxDelayMs: 2, budgetMs: 10 } }));
  t.is((error as { code?: string }).code, 'DVDI_TASK_CONTAINER_NOT_FOUND');
  t.is((error as { exitCode?: number }).exitCode, ExitCode.Config);
  t.regex(error.message, /DVDI_TASK_CONTAINER=nope: no such container/);

  const down: ContainerRuntime = { ...later, inspectContainer: () => Promise.reject(new DockerUnavailableError('unix:///d.sock', 'inspect container app', 'connect ENOENT')) };
  const unavailable = await t.throwsAsync(readTaskContainer({ runtime: down, container: 'app', dockerHost: 'unix:///d.sock', clock: systemClock, backoff: { initialMs: 1, maxDelayMs: 2, budgetMs: 10 } }));
  t.is((unavailable as { exitCode?: number }).exitCode, ExitCode.Unavailable);
  t.regex(unavailable.message, /-v \/var\/run\/docker\.sock:\/var\/run\/docker\.sock/);
});

test('volumeLabels keeps every spelling of DVDI_VOLUME_* so config can name a miscased one', (t) => {
  t.deepEqual(volumeLabels({ DVDI_VOLUME_NAME: 'a', dvdi_volume_opts: 'b', 'com.example': 'c', DVDI_VOLUMES: 'd' }), { DVDI_VOLUME_NAME: 'a', dvdi_volume_opts: 'b' });
});

test('DOCKER_HOST becomes explicit dockerode options', (t) => {
  t.deepEqual(dockerodeOptions('unix:///var/run/docker.sock'), { socketPath: '/var/run/docker.sock', host: undefined, port: undefined, protocol: 'http' });
  t.deepEqual(dockerodeOptions('tcp://10.0.0.1:2375'), { host: '10.0.0.1', port: 2375, protocol: 'http' });
  t.deepEqual(dockerodeOptions('https://docker.example'), { host: 'docker.example', port: 2376, protocol: 'https' });
  t.deepEqual(dockerodeOptions('ssh://core@node1'), { host: 'node1', port: 22, protocol: 'ssh', username: 'core' });
});

test('event lines: both API spellings, the exit code attribute, garbage skipped', (t) => {
  t.deepEqual(parseEventLine('{"status":"die","id":"abc","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"143"}},"time":1700000000,"timeNano":1700000000123456789}'), {
    action: 'die',
    id: 'abc',
    time: 1700000000,
    exitCode: 143,
  });
  t.deepEqual(parseEventLine('{"status":"destroy","id":"abc","time":5}'), { action: 'destroy', id: 'abc', time: 5, exitCode: undefined });
  t.is(parseEventLine('not json'), undefined);
  t.is(parseEventLine('{"Action":"die"}'), undefined);
});
