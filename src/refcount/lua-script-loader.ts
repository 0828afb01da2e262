// Loads the refcount Lua scripts: one file per operation (`verbNoun-<numKeys>.lua`), with shared
// code pulled in from includes/ by `--- @include "name"` lines, inlined here once per script (a
// second include of the same file is dropped). A missing or circular include is an error at
// load time, never a half-built script sent to Redis.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DvdiError, ExitCode } from '../common/errors.js';

/**
 * The scripts' directory: src/refcount/lua under tsx, dist/refcount/lua when built. Spelled from
 * one level up so it holds for this module and for the bundle's files (dist/cli/, dist/chunks/),
 * which all sit two levels below the package root.
 */
export const LUA_DIR = fileURLToPath(new URL('../refcount/lua/', import.meta.url));

export interface LuaScript {
  /** Operation name from the file name (`acquire` for acquire-1.lua). */
  name: string;
  numberOfKeys: number;
  /** Source with every include inlined. */
  lua: string;
}

/** A script or one of its includes could not be read, or the includes form a cycle. */
export class LuaScriptLoadError extends DvdiError {
  constructor(message: string, file: string, cause?: unknown) {
    super('DVDI_STORE_SCRIPT_LOAD', message, { context: { file }, cause, exitCode: ExitCode.Internal });
  }
}

const SCRIPT_FILE = /^([a-z][A-Za-z]*)-(\d+)\.lua$/;
const INCLUDE_LINE = /^---\s*@include\s+"([A-Za-z0-9_-]+)"\s*$/;

/** Every operation script of `dir`, keyed by name. */
export function loadLuaScripts(dir: string = LUA_DIR): Map<string, LuaScript> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    throw new LuaScriptLoadError(`cannot read the Lua script directory ${dir}`, dir, error);
  }
  const scripts = new Map<string, LuaScript>();
  for (const file of entries.sort()) {
    const m = SCRIPT_FILE.exec(file);
    if (!m) continue;
    const name = m[1]!;
    scripts.set(name, { name, numberOfKeys: Number(m[2]), lua: loadLuaScript(join(dir, file), join(dir, 'includes')) });
  }
  return scripts;
}

/** One script with its includes inlined (depth first, each include once). */
export function loadLuaScript(path: string, includeDir: string): string {
  const included = new Set<string>();
  const expand = (file: string, stack: string[]): string => {
    const source = readText(file, stack.at(-1));
    const out: string[] = [];
    for (const line of source.split('\n')) {
      const m = INCLUDE_LINE.exec(line.trim());
      if (!m) {
        out.push(line);
        continue;
      }
      const target = join(includeDir, `${m[1]!}.lua`);
      if (stack.includes(target)) {
        throw new LuaScriptLoadError(`circular Lua include: ${[...stack, target].join(' → ')}`, target);
      }
      if (included.has(target)) continue;
      included.add(target);
      out.push(`-- >>> include ${m[1]!}`, expand(target, [...stack, target]), `-- <<< include ${m[1]!}`);
    }
    return out.join('\n');
  };
  return expand(path, [path]);
}

function readText(file: string, includedFrom: string | undefined): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const where = includedFrom === undefined ? '' : ` (included from ${includedFrom})`;
    throw new LuaScriptLoadError(`cannot read Lua file ${file}${where}`, file, error);
  }
}
