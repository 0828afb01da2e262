// Errors of the Docker integration, each with a stable code and the exit code the sidecar ends
// with when one reaches the top (docs/contract.md): a task container that is not there is a
// configuration mistake (2); an engine that cannot be asked at start is "unavailable" (4); a
// managed plugin that is installed but disabled is a driver failure (3), like any other.
import { DvdiError, ExitCode } from '../common/errors.js';
import { DriverError } from '../driver/driver-errors.js';

/** The engine at DOCKER_HOST could not be reached or answered with an error. */
export class DockerUnavailableError extends DvdiError {
  constructor(dockerHost: string, what: string, detail: string, cause?: unknown) {
    super('DVDI_DOCKER_UNAVAILABLE', `Docker engine at ${dockerHost} (DOCKER_HOST): ${what}: ${detail}; mount the engine's socket into the sidecar (-v /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST`, {
      context: { dockerHost, what },
      cause,
      exitCode: ExitCode.Unavailable,
    });
  }
}

/** DVDI_TASK_CONTAINER names no container the engine knows. */
export class TaskContainerNotFoundError extends DvdiError {
  constructor(container: string, dockerHost: string, waitedMs: number) {
    super('DVDI_TASK_CONTAINER_NOT_FOUND', `DVDI_TASK_CONTAINER=${container}: no such container in the Docker engine at ${dockerHost} (waited ${waitedMs} ms); expected the ID or name of the task's app container`, {
      context: { variable: 'DVDI_TASK_CONTAINER', container, dockerHost },
      exitCode: ExitCode.Config,
    });
  }
}

/** A managed plugin of that name is installed but not enabled: Docker itself would refuse it. */
export class ManagedPluginDisabledError extends DriverError {
  constructor(driver: string, pluginName: string, pluginId: string) {
    super('DVDI_PLUGIN_DISABLED', { driver, method: 'Discovery' }, `the managed plugin ${pluginName} (${pluginId.slice(0, 12)}) is installed but disabled: run 'docker plugin enable ${pluginName}'`, {
      context: { plugin: pluginName, pluginId },
    });
  }
}

/** A managed plugin of that name exists but does not implement the volume driver interface. */
export class ManagedPluginNotVolumeDriverError extends DriverError {
  constructor(driver: string, pluginName: string, types: readonly string[]) {
    super('DVDI_PLUGIN_NOT_VOLUME_DRIVER', { driver, method: 'Discovery' }, `the managed plugin ${pluginName} implements ${types.join(', ') || 'nothing'}, not docker.volumedriver/1.0`, {
      context: { plugin: pluginName },
    });
  }
}
