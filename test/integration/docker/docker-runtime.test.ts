// The dockerode adapter and the task container watch against a real (private) Docker engine:
// labels of a container that is only created, a kill seen as a `die` event with its exit code,
// events replayed with `since`, a container already exited when the watch starts, removal, the
// engine's data root and plugin list, and an engine that is not there.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import type { ContainerEvent } from '../../../src/docker/container-runtime.js';
import { DockerUnavailableError } from '../../../src/docker/docker-errors.js';
import { DockerodeRuntime } from '../../../src/docker/dockerode-runtime.js';
import { TaskContainerWatch, readTaskContainer, volumeLabels } from '../../../src/docker/task-container.js';
import { startDockerd, type PrivateDockerd } from '../../helpers/dockerd.js';
import { ensureBusyboxImage } from '../../helpers/images.js';

let dockerd: PrivateDockerd | undefined;
let image = '';
let runtime: DockerodeRuntime;
const created: string[] = [];
const suffix = randomBytes(3).toString('hex');

test.before(async (t) => {
  dockerd = await startDockerd({ log: (line) => t.log(line) });
  image = await ensureBusyboxImage(dockerd.docker, (line) => t.log(line));
  runtime = new DockerodeRuntime({ dockerHost: dockerd.dockerHost });
});

test.after.always(async () => {
  for (const name of created) await dockerd?.docker(['rm', '--force', name], { reject: false });
  await dockerd?.stop();
});

async function run(name: string, args: string[]): Promise<string> {
  created.push(name);
  return (await dockerd!.docker(['run', '-d', '--name', name, '--network', 'none', ...args])).stdout.trim();
}

function watchOf(details: Awaited<ReturnType<typeof readTaskContainer>>): TaskContainerWatch {
  return new TaskContainerWatch({ runtime, container: details, clock: systemClock, logger: silentLogger() });
}

test.serial('labels of a created (not yet started) container are read; the engine data root and plugin list answer', async (t) => {
  const name = `labels-${suffix}`;
  created.push(name);
  await dockerd!.docker(['create', '--name', name, '--network', 'none', '--label', 'DVDI_VOLUME_NAME=v1', '--label', 'DVDI_VOLUME_OPTS1=size=1', '--label', 'team=x', image, 'true']);
  const details = await readTaskContainer({ runtime, container: name, dockerHost: dockerd!.dockerHost, clock: systemClock });
  t.is(details.name, name);
  t.is(details.status, 'created');
  t.deepEqual(volumeLabels(details.labels), { DVDI_VOLUME_NAME: 'v1', DVDI_VOLUME_OPTS1: 'size=1' });
  t.is(await runtime.dockerRootDir(), dockerd!.dataRoot);
  t.deepEqual(await runtime.listPlugins(), []);
});

test.serial('docker kill is seen as a die event with the exit code', async (t) => {
  const name = `killed-${suffix}`;
  await run(name, [image, 'sleep', '600']);
  const watch = watchOf(await readTaskContainer({ runtime, container: name, dockerHost: dockerd!.dockerHost, clock: systemClock }));
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const ended = watch.run(controller.signal);
  await new Promise((r) => setTimeout(r, 300));
  t.true(watch.status().connected);
  await dockerd!.docker(['kill', name]);
  t.like(await ended, { how: 'die', exitCode: 137 });
});

test.serial('events are replayed from since; a container that already exited ends the watch at once', async (t) => {
  const name = `quick-${suffix}`;
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = await run(name, [image, 'sh', '-c', 'exit 3']);
  await dockerd!.docker(['wait', name]);
  const controller = new AbortController();
  const seen: ContainerEvent[] = [];
  for await (const event of await runtime.containerEndEvents(id, { since, signal: controller.signal })) {
    seen.push(event);
    controller.abort();
  }
  t.like(seen[0], { action: 'die', id, exitCode: 3 });

  const watch = watchOf(await readTaskContainer({ runtime, container: id, dockerHost: dockerd!.dockerHost, clock: systemClock }));
  t.like(await watch.run(new AbortController().signal), { how: 'exited', exitCode: 3 });
});

test.serial('removing a running container ends the watch', async (t) => {
  const name = `removed-${suffix}`;
  await run(name, [image, 'sleep', '600']);
  const watch = watchOf(await readTaskContainer({ runtime, container: name, dockerHost: dockerd!.dockerHost, clock: systemClock }));
  const ended = watch.run(new AbortController().signal);
  await new Promise((r) => setTimeout(r, 300));
  await dockerd!.docker(['rm', '--force', name]);
  const how = (await ended)?.how;
  t.true(how === 'die' || how === 'destroy', String(how));
});

test.serial('an engine that is not there is DockerUnavailableError (exit 4) after the wait budget', async (t) => {
  const gone = new DockerodeRuntime({ dockerHost: 'unix:///nonexistent/docker.sock' });
  const error = await t.throwsAsync(
    readTaskContainer({ runtime: gone, container: 'app', dockerHost: 'unix:///nonexistent/docker.sock', clock: systemClock, backoff: { initialMs: 10, maxDelayMs: 20, budgetMs: 50 } }),
    { instanceOf: DockerUnavailableError },
  );
  t.is(error?.exitCode, 4);
  t.regex(error.message, /unix:\/\/\/nonexistent\/docker\.sock/);
});
