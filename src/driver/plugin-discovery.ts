// Finding a legacy (v1) plugin by name in plugin directories, in moby's order
// (`pkg/plugins/discovery.go`): first a socket `NAME.sock` or `NAME/NAME.sock` in each directory
// in turn, then in each directory in turn `NAME.spec`, `NAME/NAME.spec`, `NAME.json`,
// `NAME/NAME.json`. Docker looks for sockets only in /run/docker/plugins and for spec files only
// in the other two; we search every directory of the list for both, which finds the same plugin
// for Docker's layout and also serves custom lists (tests, non-standard hosts).
// "Not there" is a normal answer (undefined): the client retries it while a plugin starts.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { quoteExternal } from '../common/external-text.js';
import { DriverBadSpecError } from './driver-errors.js';
import { parsePluginAddress, parsePluginJson, PluginSpecSyntaxError, type PluginEndpoint } from './plugin-endpoint.js';

export const DEFAULT_PLUGIN_DIRS: readonly string[] = ['/run/docker/plugins', '/etc/docker/plugins', '/usr/lib/docker/plugins'];

/** Turns a driver name into an endpoint; undefined when the plugin is not (yet) there. */
export interface PluginResolver {
  resolve(name: string): Promise<PluginEndpoint | undefined>;
  /** What was searched, for the not-found message. */
  describe(name: string): string;
}

/** A name usable as a file name in plugin directories (no path separators, no dot-dot tricks). */
const DIR_PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function isDirectoryPluginName(name: string): boolean {
  return DIR_PLUGIN_NAME.test(name) && !name.includes('..');
}

/** `a:b:c` → `['a','b','c']`, empty entries dropped (as in a PATH-like variable). */
export function parsePluginDirs(value: string): string[] {
  return value.split(':').filter((dir) => dir !== '');
}

/** The candidate files for `name` in moby's order: sockets first, then spec/json files. */
export function candidatePaths(dirs: readonly string[], name: string): { sockets: string[]; specs: string[] } {
  const sockets = dirs.flatMap((dir) => [join(dir, `${name}.sock`), join(dir, name, `${name}.sock`)]);
  const specs = dirs.flatMap((dir) => [
    join(dir, `${name}.spec`),
    join(dir, name, `${name}.spec`),
    join(dir, `${name}.json`),
    join(dir, name, `${name}.json`),
  ]);
  return { sockets, specs };
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export class DirectoryPluginResolver implements PluginResolver {
  readonly dirs: readonly string[];

  constructor(dirs: readonly string[] = DEFAULT_PLUGIN_DIRS) {
    this.dirs = [...dirs];
  }

  async resolve(name: string): Promise<PluginEndpoint | undefined> {
    // A managed plugin reference such as rexray/ebs:latest is not a file name; another resolver
    // (Docker's plugin list) answers for it.
    if (!isDirectoryPluginName(name)) return undefined;
    const { sockets, specs } = candidatePaths(this.dirs, name);
    for (const path of sockets) {
      if (await isSocket(path)) return { name, transport: 'unix', address: path, source: path };
    }
    for (const path of specs) {
      if (!(await exists(path))) continue;
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw new DriverBadSpecError({ driver: name, method: 'Discovery' }, path, `cannot read (${(error as Error).message})`, error);
      }
      try {
        return path.endsWith('.json') ? parsePluginJson(name, text, path) : parsePluginAddress(name, text, path);
      } catch (error) {
        if (error instanceof PluginSpecSyntaxError) throw new DriverBadSpecError({ driver: name, method: 'Discovery' }, path, error.message);
        throw error;
      }
    }
    return undefined;
  }

  describe(name: string): string {
    if (!isDirectoryPluginName(name)) {
      return `${quoteExternal(name)} is not a plain plugin name, so it cannot be a legacy plugin in ${this.dirs.join(', ')} (managed plugins such as vendor/name:tag are resolved through Docker)`;
    }
    return `looked for ${name}.sock, ${name}/${name}.sock, ${name}.spec, ${name}/${name}.spec, ${name}.json, ${name}/${name}.json in ${this.dirs.join(', ')}`;
  }
}
