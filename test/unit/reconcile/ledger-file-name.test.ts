// The mount ledger's file names (reconcile/node-files.ts): one name per entry, bounded and safe
// whatever the driver, volume and mount ID hold (a forged store record may bring 4 KB of
// anything), unchanged for the short plain entries that earlier versions wrote, and distinct for
// distinct entries. Then the ledger itself on disk: a long or odd entry is recorded, listed and
// forgotten, and an entry an earlier version wrote under its old name is still forgotten.
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEDGER_READABLE_MAX, ledgerFileName, mountLedgerFiles } from '../../../src/reconcile/node-files.js';
import type { LedgerEntry } from '../../../src/lifecycle/ports.js';

const UUID = '0b7e5f0e-6a43-4c3e-9d2b-1f3c6f1a9e21';
const entry = (driver: string, name: string, mountId: string): LedgerEntry => ({ driver, name, mountId });

/** What every name must be: short, one component, never `.`/`..`, no NUL, not a temp file. */
function assertSafe(t: ExecutionContext, name: string, what: string): void {
  t.true(Buffer.byteLength(name) <= LEDGER_READABLE_MAX, `${what}: ${Buffer.byteLength(name)} bytes`);
  t.false(name.includes('/'), what);
  t.false(name.includes('\0'), what);
  t.false(name.includes('..'), what);
  t.false(name.includes('.tmp-'), what);
  t.true(name.endsWith('.json'), what);
}

test('short plain entries keep the readable name earlier versions gave them', (t) => {
  t.is(ledgerFileName(entry('rexray', 'pgdata', UUID)), `rexray~pgdata~${UUID}.json`);
  t.is(ledgerFileName(entry('rexray/ebs:latest', 'vol1', 'lost-id')), 'rexray%2Febs%3Alatest~vol1~lost-id.json');
});

test('a long or odd entry is named by its hash, 76 bytes', (t) => {
  for (const [what, e] of [
    ['a 4000-byte mount ID', entry('rexray', 'v', `id\n${'x'.repeat(3997)}`)],
    ['a 4 KB driver', entry('d'.repeat(4096), 'v', UUID)],
    ['a megabyte volume name', entry('rexray', 'v'.repeat(1 << 20), UUID)],
    ['a lone surrogate (encodeURIComponent throws)', entry('rexray', 'v', 'id\ud800')],
    ['`..` in the mount ID', entry('rexray', 'v', '../../etc')],
    ['a temp-file mark in the volume name', entry('rexray', 'x.tmp-1', UUID)],
    ['`~` in a part', entry('a~b', 'c', 'd')],
    ["`'` in a part", entry('rexray', 'v', "it's")],
    ['just over the readable bound', entry('rexray', 'v', 'i'.repeat(LEDGER_READABLE_MAX))],
  ] as const) {
    const name = ledgerFileName(e);
    t.regex(name, /^sha256-[0-9a-f]{64}\.json$/, what);
    assertSafe(t, name, what);
  }
});

test('the name of a hostile mount ID holds no path, NUL or control character', (t) => {
  const name = ledgerFileName(entry('rexray', 'v', '/\0\n\u001b[2J\u202e..'));
  assertSafe(t, name, 'hostile');
  t.regex(name, /^[A-Za-z0-9._~%-]+$/);
});

test('entries that the old names confused get distinct names', (t) => {
  // `driver~volume~mountId` with `~` inside a part: all three were `a~b~c~d.json`.
  const names = [entry('a~b', 'c', 'd'), entry('a', 'b~c', 'd'), entry('a', 'b', 'c~d')].map(ledgerFileName);
  t.is(new Set(names).size, 3, names.join(' '));
  // A readable name can never equal a hashed one, whatever the parts.
  t.not(ledgerFileName(entry('sha256-x', 'y', 'z')), ledgerFileName(entry('a', 'b', 'c'.repeat(300))));
});

// Any code point; lone surrogates (fast-check's units never make one); few letters and `~`, so
// that parts run into each other; and long ASCII, past the readable bound.
const part = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.integer({ min: 0xd800, max: 0xdfff }), { minLength: 1, maxLength: 3 }).map((codes) => `id${String.fromCharCode(...codes)}`),
  fc.stringMatching(/^[a~.%]{0,4}$/),
  fc.string({ unit: 'grapheme-ascii', minLength: 180, maxLength: 400 }),
);

test('property: every name is bounded and safe', (t) => {
  fc.assert(
    fc.property(part, part, part, (driver, name, mountId) => {
      const file = ledgerFileName(entry(driver, name, mountId));
      return Buffer.byteLength(file) <= LEDGER_READABLE_MAX && !file.includes('/') && !file.includes('\0') && !file.includes('..') && !file.includes('.tmp-') && file.endsWith('.json');
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: distinct entries get distinct names', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(part, part, part), { minLength: 2, maxLength: 40, selector: (e) => JSON.stringify(e) }), (entries) => {
      const names = entries.map(([d, n, m]) => ledgerFileName(entry(d, n, m)));
      return new Set(names).size === names.length;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

async function ledgerDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'dvdi-ledger-'));
}

test('a 4000-byte mount ID is recorded, listed and forgotten', async (t) => {
  const dir = await ledgerDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ledger = mountLedgerFiles(dir, { now: () => 42 });
  const long = entry('rexray', 'v', `id\n{"level":"info"}${'x'.repeat(4000 - 19)}`);
  const plain = entry('rexray', 'v', UUID);
  await ledger.record(long);
  await ledger.record(plain);
  t.deepEqual((await ledger.list()).sort((a, b) => a.mountId.length - b.mountId.length), [{ ...plain, recordedAt: 42 }, { ...long, recordedAt: 42 }]);
  await ledger.forget(long);
  t.deepEqual(await ledger.list(), [{ ...plain, recordedAt: 42 }]);
  await ledger.forget(long); // again: nothing there, no error
  await ledger.forget(plain);
  t.deepEqual(await readdir(join(dir, 'mounts')), []);
});

test('an entry an earlier version wrote under its old name is listed and forgotten; another entry under that name is not', async (t) => {
  const dir = await ledgerDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'mounts'));
  const ledger = mountLedgerFiles(dir, { now: () => 1 });
  // 220 bytes: a name an earlier version could write, now past the readable bound.
  const longish = entry('rexray', 'v', 'i'.repeat(220 - 'rexray~v~.json'.length));
  const dotted = entry('rexray', 'v', 'a..b');
  for (const e of [longish, dotted]) {
    const old = `${encodeURIComponent(e.driver)}~${encodeURIComponent(e.name)}~${encodeURIComponent(e.mountId)}.json`;
    t.not(ledgerFileName(e), old);
    await writeFile(join(dir, 'mounts', old), JSON.stringify({ ...e, recordedAt: 1 }));
  }
  // `a~b~c~d.json` written for driver a~b; forgetting driver a, volume b~c must leave it.
  const owner = entry('a~b', 'c', 'd');
  await writeFile(join(dir, 'mounts', 'a~b~c~d.json'), JSON.stringify({ ...owner, recordedAt: 1 }));
  t.is((await ledger.list()).length, 3);
  await ledger.forget(longish);
  await ledger.forget(dotted);
  await ledger.forget(entry('a', 'b~c', 'd'));
  t.deepEqual(await ledger.list(), [{ ...owner, recordedAt: 1 }]);
  await ledger.forget(owner);
  t.deepEqual(await readdir(join(dir, 'mounts')), []);
});
