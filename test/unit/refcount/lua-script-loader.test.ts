// The Lua loader: includes inlined once, missing and circular includes refused at load time,
// and every shipped script found with its key count and an opening KEYS/ARGV comment.
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LUA_DIR, LuaScriptLoadError, loadLuaScript, loadLuaScripts } from '../../../src/refcount/lua-script-loader.js';

async function luaDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dvdi-lua-'));
  await mkdir(join(dir, 'includes'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

test('includes are inlined depth first, each once', async (t) => {
  const dir = await luaDir({
    'main-1.lua': '--- @include "a"\n--- @include "b"\nreturn x\n',
    'includes/a.lua': '--- @include "b"\nlocal a = 1\n',
    'includes/b.lua': 'local b = 2\n',
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lua = loadLuaScript(join(dir, 'main-1.lua'), join(dir, 'includes'));
  t.is(lua.match(/local b = 2/g)?.length, 1);
  t.true(lua.indexOf('local b = 2') < lua.indexOf('local a = 1'));
  t.false(lua.includes('@include'));
});

test('a missing include and a circular include are load errors', async (t) => {
  const dir = await luaDir({
    'missing-1.lua': '--- @include "nope"\n',
    'loop-1.lua': '--- @include "x"\n',
    'includes/x.lua': '--- @include "y"\n',
    'includes/y.lua': '--- @include "x"\n',
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.throws(() => loadLuaScript(join(dir, 'missing-1.lua'), join(dir, 'includes')), { instanceOf: LuaScriptLoadError, message: /nope\.lua/ });
  t.throws(() => loadLuaScript(join(dir, 'loop-1.lua'), join(dir, 'includes')), { instanceOf: LuaScriptLoadError, message: /circular/ });
});

test('the shipped scripts: one per operation, key count from the name, header first', (t) => {
  const scripts = loadLuaScripts(LUA_DIR);
  t.deepEqual(
    [...scripts.keys()].sort(),
    ['abortMount', 'acquire', 'claimUnmount', 'ensureMarker', 'inspectVolume', 'markMounted', 'markUnmounted', 'pruneNodeIndex', 'reap', 'release', 'renew', 'touchNodeIndex'],
  );
  for (const script of scripts.values()) {
    t.is(script.numberOfKeys, 1, script.name);
    t.regex(script.lua, /^--\[\[[\s\S]*KEYS\[1\][\s\S]*Output:/, `${script.name} opens with its KEYS/ARGV/output comment`);
    t.false(script.lua.includes('@include'), `${script.name} has every include inlined`);
  }
});

test('every script that reads a volume record checks its shape (record-shape include) before using it', (t) => {
  const scripts = loadLuaScripts(LUA_DIR);
  for (const script of scripts.values()) {
    if (!script.lua.includes("redis.call('GET', KEYS[1])") && !script.lua.includes('loadVolume(')) continue;
    if (script.name === 'ensureMarker') continue; // reads the marker, not a record
    t.true(script.lua.includes('local function recordShapeProblem'), `${script.name} includes record-shape`);
    t.regex(script.lua, /loadVolume\(/, `${script.name} reads the record through loadVolume`);
    t.regex(script.lua, /ERR_BAD_RECORD/, `${script.name} answers the bad-record code`);
  }
});
