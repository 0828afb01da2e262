// The Docker engine as the sidecar uses it: the narrow interface listing only our calls (task
// container inspect and events, managed plugin list, the engine's data root) and the plain
// shapes they return. The dockerode adapter implements it; unit tests use fakes.

/** A container as `GET /containers/{id}/json` describes it, reduced to what we read. */
export interface ContainerDetails {
  /** Full container ID. */
  id: string;
  /** Name without Docker's leading `/`. */
  name: string;
  labels: Readonly<Record<string, string>>;
  running: boolean;
  /** `created`, `running`, `exited`, `dead`, … */
  status: string;
  exitCode: number | undefined;
}

/** One `die` or `destroy` event of a container (`GET /events`). */
export interface ContainerEvent {
  action: string;
  /** Container ID the event is about. */
  id: string;
  /** Event time in whole seconds since the epoch (the engine's clock), for `since`. */
  time: number;
  /** The `exitCode` attribute of `die` events, when present. */
  exitCode: number | undefined;
}

/** A managed (v2) plugin as `GET /plugins` lists it, reduced to what discovery needs. */
export interface ManagedPlugin {
  id: string;
  /** `rexray/ebs:latest`: Docker stores names normalized, with a tag. */
  name: string;
  enabled: boolean;
  /** `Config.Interface.Socket`: the socket file name under `/run/docker/plugins/<id>/`. */
  socket: string;
  /** `Config.Interface.Types`, e.g. `docker.volumedriver/1.0`. */
  types: readonly string[];
  /** `Config.PropagatedMount`: where the plugin mounts volumes inside its rootfs; '' when none. */
  propagatedMount: string;
}

export interface ContainerRuntime {
  /** Undefined when the engine has no such container (404). */
  inspectContainer(ref: string): Promise<ContainerDetails | undefined>;
  /**
   * Subscribes to `die` and `destroy` events of one container, from `since` (seconds, inclusive)
   * when given. Resolves once the engine accepted the subscription, so that a state check made
   * afterwards cannot miss an event; the iterable ends when the engine closes the stream and
   * throws when the connection breaks. `signal` closes it.
   */
  containerEndEvents(containerId: string, options: { since?: number | undefined; signal: AbortSignal }): Promise<AsyncIterable<ContainerEvent>>;
  listPlugins(): Promise<ManagedPlugin[]>;
  /** `DockerRootDir` of `GET /info` (`/var/lib/docker` by default). */
  dockerRootDir(): Promise<string>;
}
