// Managed (v2) volume plugins: Docker runs them itself and lists them in `GET /plugins`. We find
// one by the name the task gives (`rexray/ebs:latest`, `rexray/ebs`, or an alias), require it to
// be enabled, and build the endpoint as moby does (`plugin/manager_linux.go`, `v2/plugin.go`):
// the socket is `/run/docker/plugins/<Id>/<Config.Interface.Socket>`, and the mount point the
// plugin returns is a path inside it, which on the host is
// `<DockerRootDir>/plugins/<Id>/propagated-mount/<rest>` under `Config.PropagatedMount`, else
// `<DockerRootDir>/plugins/<Id>/rootfs/<path>`. Also the chain that asks the legacy plugin
// directories first and Docker second, which is Docker's own lookup order.
import { join } from 'node:path';
import { describeError } from '../common/errors.js';
import { cleanExternalText, showExternal } from '../common/external-text.js';
import type { PluginResolver } from '../driver/plugin-discovery.js';
import type { PluginEndpoint } from '../driver/plugin-endpoint.js';
import type { ContainerRuntime, ManagedPlugin } from './container-runtime.js';
import { ManagedPluginDisabledError, ManagedPluginNotVolumeDriverError } from './docker-errors.js';

/** Where moby puts managed plugin sockets on Linux, whatever its exec-root. */
export const MANAGED_PLUGIN_SOCKET_DIR = '/run/docker/plugins';
const VOLUME_DRIVER_TYPE = 'docker.volumedriver/1.0';

/**
 * The familiar, tagged form Docker stores plugin names in: `docker.io/` and `library/` dropped,
 * `:latest` added when there is neither tag nor digest (`rexray/ebs` → `rexray/ebs:latest`).
 */
export function normalizePluginReference(reference: string): string {
  let name = reference.trim();
  for (const registry of ['docker.io/', 'index.docker.io/', 'registry-1.docker.io/']) {
    if (name.startsWith(registry)) name = name.slice(registry.length);
  }
  if (name.startsWith('library/')) name = name.slice('library/'.length);
  const lastSlash = name.lastIndexOf('/');
  const hasTag = name.slice(lastSlash + 1).includes(':');
  if (!hasTag && !name.includes('@')) name = `${name}:latest`;
  return name;
}

/** The managed plugin `name` refers to: by normalized name, or by full or unique-prefix ID. */
export function findManagedPlugin(plugins: readonly ManagedPlugin[], name: string): ManagedPlugin | undefined {
  const wanted = normalizePluginReference(name);
  const byName = plugins.find((p) => normalizePluginReference(p.name) === wanted);
  if (byName !== undefined) return byName;
  if (/^[0-9a-f]{12,64}$/.test(name)) {
    const byId = plugins.filter((p) => p.id.startsWith(name));
    if (byId.length === 1) return byId[0];
  }
  return undefined;
}

/** The endpoint Docker would use for `plugin`, named `name` as the task wrote it. */
export function managedPluginEndpoint(name: string, plugin: ManagedPlugin, dockerRootDir: string, socketDir = MANAGED_PLUGIN_SOCKET_DIR): PluginEndpoint {
  const home = join(dockerRootDir, 'plugins', plugin.id);
  return {
    name,
    transport: 'unix',
    address: join(socketDir, plugin.id, plugin.socket),
    source: `managed plugin ${plugin.name} (${plugin.id.slice(0, 12)})`,
    propagatedMount: {
      // An empty PropagatedMount maps nothing there: every path is in the rootfs.
      inPlugin: plugin.propagatedMount,
      onHost: join(home, 'propagated-mount'),
      rootfs: join(home, 'rootfs'),
    },
  };
}

export interface ManagedPluginResolverOptions {
  runtime: ContainerRuntime;
  /** DOCKER_HOST, for messages. */
  dockerHost: string;
  socketDir?: string;
}

export class ManagedPluginResolver implements PluginResolver {
  private readonly runtime: ContainerRuntime;
  private readonly dockerHost: string;
  private readonly socketDir: string;
  private rootDir: string | undefined;
  private lastProblem: string | undefined;

  constructor(options: ManagedPluginResolverOptions) {
    this.runtime = options.runtime;
    this.dockerHost = options.dockerHost;
    this.socketDir = options.socketDir ?? MANAGED_PLUGIN_SOCKET_DIR;
  }

  async resolve(name: string): Promise<PluginEndpoint | undefined> {
    let plugin: ManagedPlugin | undefined;
    try {
      plugin = findManagedPlugin(await this.runtime.listPlugins(), name);
      if (plugin !== undefined) this.rootDir ??= await this.runtime.dockerRootDir();
    } catch (error) {
      // Not reachable is "not found here" (a sidecar without the engine's socket still finds
      // legacy plugins); the reason goes into describe() for the final not-found message.
      this.lastProblem = describeError(error);
      return undefined;
    }
    this.lastProblem = undefined;
    if (plugin === undefined || this.rootDir === undefined) return undefined;
    if (!plugin.enabled) throw new ManagedPluginDisabledError(name, plugin.name, plugin.id);
    if (!plugin.types.includes(VOLUME_DRIVER_TYPE)) throw new ManagedPluginNotVolumeDriverError(name, plugin.name, plugin.types);
    return managedPluginEndpoint(name, plugin, this.rootDir, this.socketDir);
  }

  // The name may be a store record's (the reconciler), the problem an engine's reply: both cleaned.
  describe(name: string): string {
    const asked = `no managed plugin ${showExternal(normalizePluginReference(name))} in the Docker engine at ${this.dockerHost}`;
    return this.lastProblem === undefined ? asked : `${asked} (could not ask it: ${cleanExternalText(this.lastProblem, 512)})`;
  }
}

/** Asks each resolver in turn; the first endpoint wins, the first error stops the search. */
export class ChainedPluginResolver implements PluginResolver {
  constructor(private readonly resolvers: readonly PluginResolver[]) {}

  async resolve(name: string): Promise<PluginEndpoint | undefined> {
    for (const resolver of this.resolvers) {
      const endpoint = await resolver.resolve(name);
      if (endpoint !== undefined) return endpoint;
    }
    return undefined;
  }

  describe(name: string): string {
    return this.resolvers.map((r) => r.describe(name)).join('; ');
  }
}
