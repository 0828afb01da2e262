// docs/contract.md, the operator's reference, against the code: every setting with its default,
// every volume key, every metric, every exit code and every command the code knows is on the
// page, and the page names none that the code does not know. So a new setting (or a renamed
// one) cannot ship without its documentation.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { SETTINGS, VOLUME_KEYS } from '../../src/config/index.js';
import { ExitCode } from '../../src/common/errors.js';
import { createSidecarMetrics } from '../../src/metrics/sidecar-metrics.js';
import { REPO, runDvdi } from '../helpers/cli.js';

const doc = readFileSync(join(REPO, 'docs/contract.md'), 'utf8');

/** The lines of the section under `## title`, up to the next `## `. */
function section(title: string): string[] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l === `## ${title}`);
  if (start < 0) throw new Error(`docs/contract.md has no section "## ${title}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** Table rows (cells trimmed) of a section, header and separator left out. */
function rows(title: string): string[][] {
  return section(title)
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replaceAll('\\|', '|')))
    .slice(1);
}

const codeNames = (cell: string) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)(?:\[n\])?`/g)].map((m) => m[1]!);

/** Items that occur more than once in `items`. */
const repeated = (items: readonly string[]): string[] => [...new Set(items.filter((item, i) => items.indexOf(item) !== i))];

// The checks below read the tables into maps, so a second row of the same name would go unseen
// (and the reader would meet two descriptions, maybe disagreeing): one row per name.
test('no setting, volume key, metric, exit code or command has two rows', (t) => {
  t.deepEqual(repeated(rows('Sidecar settings').flatMap(([names]) => codeNames(names!))), [], 'Sidecar settings');
  t.deepEqual(repeated(rows('Task volume requests (read by `dvdi sidecar`)').flatMap(([names]) => codeNames(names!))), [], 'Task volume requests');
  t.deepEqual(repeated(rows('Metrics').map(([name]) => name!)), [], 'Metrics');
  t.deepEqual(repeated(rows('Exit codes of `dvdi sidecar`').map(([code]) => code!)), [], 'Exit codes');
  t.deepEqual(repeated(rows('Package and commands').map(([command]) => command!.split(' ').slice(0, 2).join(' '))), [], 'Package and commands');
});

test('every sidecar setting is documented with the default the code uses, and no other', (t) => {
  const table = rows('Sidecar settings');
  const documented = new Map<string, string>();
  for (const [names, , def] of table) for (const name of codeNames(names!)) documented.set(name, def!);
  t.deepEqual([...documented.keys()].sort(), SETTINGS.map((s) => s.name).sort());
  for (const setting of SETTINGS) {
    const cell = documented.get(setting.name) ?? '';
    if (setting.default === undefined) t.is(cell, 'unset', setting.name);
    else if (setting.default.startsWith('$')) t.is(cell.replace(/`/g, ''), setting.default, setting.name);
    else t.is(cell, `\`${setting.default}\``, setting.name);
  }
});

test('every volume key is documented with its default, and no other', (t) => {
  const table = rows('Task volume requests (read by `dvdi sidecar`)');
  const documented = new Map(table.map(([name, , def]) => [codeNames(name!)[0]!.replace(/^DVDI_VOLUME_/, ''), def!]));
  t.deepEqual([...documented.keys()].sort(), VOLUME_KEYS.map((k) => k.key).sort());
  for (const key of VOLUME_KEYS) {
    const cell = documented.get(key.key);
    if (key.default !== undefined) t.is(cell, `\`${key.default}\``, key.key);
    else t.true(cell === 'none' || cell === '—', `${key.key}: no default, documented as ${cell}`);
  }
});

test('every metric the sidecar registers is documented, and no other', async (t) => {
  const registry = new Registry();
  createSidecarMetrics(registry, { defaultMetrics: false });
  const registered = (await registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
  const table = rows('Metrics');
  t.deepEqual(table.map(([name]) => name!.replace(/`/g, '')).sort(), registered.map((m) => m.name).sort());
  for (const m of registered) t.is(table.find(([name]) => name === `\`${m.name}\``)?.[1], m.type, m.name);
});

test('every exit code of dvdi sidecar is documented, and no other', (t) => {
  const documented = rows('Exit codes of `dvdi sidecar`').map(([code]) => Number(code));
  t.deepEqual(documented, Object.values(ExitCode).sort((a, b) => a - b));
});

test('every dvdi command is documented', async (t) => {
  const help = await runDvdi(['--help']);
  const commands = [...help.stdout.matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]!);
  t.true(commands.length >= 6, `dvdi --help lists its commands: ${help.stdout}`);
  const table = rows('Package and commands').map(([command]) => command!);
  for (const command of commands) t.true(table.some((c) => c.startsWith(`\`dvdi ${command}`)), `dvdi ${command} is in the commands table`);
  t.true(table.some((c) => c.startsWith('`dvdcli ')), 'dvdcli is in the commands table');
});
