// dvdcli's command line, parsed the way rexray/dvdcli's cobra/pflag does (so the argv that
// mesos-module-dvdi and Mesos' docker/volume isolator build means the same here): `--f=v` and
// `--f v` for string flags, `--b` / `--b=<Go bool>` for booleans (a bare `--b false` leaves
// `false` as a stray argument, which we refuse), `--volumeopts` as a pflag string slice (each
// value read as one CSV record; repeats append), the last value of a repeated string flag wins,
// `--` ends the flags. Differences, all on the safe side: `--explicitCreate` is accepted next to
// `--explicitcreate` (the camel case mesos-module-dvdi emits; the original rejected it), stray
// arguments are a usage error, and an option item without `=` is a usage error (the original
// panicked). Pure: no I/O.

import { readCsvRecord as readCsvRecordWith, type CsvResult } from '../config/csv-record.js';

export const COMMANDS = ['mount', 'unmount', 'path', 'create', 'remove', 'get', 'list', 'version', 'renew'] as const;
export type DvdcliCommandName = (typeof COMMANDS)[number];

export const DEFAULT_DRIVER = 'rexray';

export interface DvdcliArgs {
  command: DvdcliCommandName;
  driver: string;
  /** '' when not given; commands that need it check. */
  name: string;
  /** Items in order; a later key replaces an earlier one (dvdcli builds a map). */
  opts: Readonly<Record<string, string>>;
  explicitCreate: boolean;
}

export type ParseOutcome = { kind: 'args'; args: DvdcliArgs } | { kind: 'help'; text: string } | { kind: 'usage-error'; message: string };

type FlagName = 'volumedriver' | 'volumename' | 'volumeopts' | 'explicitcreate';

interface FlagSpec {
  name: FlagName;
  kind: 'string' | 'slice' | 'bool';
}

const FLAG_SPECS: Record<string, FlagSpec> = {
  volumedriver: { name: 'volumedriver', kind: 'string' },
  volumename: { name: 'volumename', kind: 'string' },
  volumeopts: { name: 'volumeopts', kind: 'slice' },
  explicitcreate: { name: 'explicitcreate', kind: 'bool' },
  explicitCreate: { name: 'explicitcreate', kind: 'bool' },
};

/** Which flags each command registers (as in dvdcli's commands.go). */
const COMMAND_FLAGS: Record<DvdcliCommandName, readonly FlagName[]> = {
  mount: ['volumedriver', 'volumename', 'volumeopts', 'explicitcreate'],
  create: ['volumedriver', 'volumename', 'volumeopts'],
  unmount: ['volumedriver', 'volumename'],
  path: ['volumedriver', 'volumename'],
  remove: ['volumedriver', 'volumename'],
  get: ['volumedriver', 'volumename'],
  list: ['volumedriver'],
  version: [],
  renew: [],
};

const SUMMARIES: Record<DvdcliCommandName, string> = {
  mount: 'get the volume, create it when absent (unless --explicitcreate), mount it; print the mount point',
  unmount: "drop this node's dvdcli claim; unmount when nothing else on this node uses the volume",
  path: 'print the mount point of a volume mounted on this node',
  create: 'create a volume with --volumeopts',
  remove: 'remove a volume (refused while anyone holds it)',
  get: "print the plugin's view of a volume as JSON",
  list: "print the plugin's volumes as JSON",
  version: 'print the version',
  renew: "extension: renew this node's dvdcli claims (run it from a timer; see docs/mesos.md)",
};

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.length));
  return [
    'Usage: dvdcli <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.padEnd(width)}  ${SUMMARIES[c]}`),
    '',
    'Flags:',
    `  --volumedriver=NAME        volume plugin (default "${DEFAULT_DRIVER}")`,
    '  --volumename=NAME          volume name',
    '  --volumeopts=k=v[,k=v]     options for Create (mount, create); repeatable',
    '  --explicitcreate[=BOOL]    mount: fail instead of creating a missing volume (also --explicitCreate)',
    '',
    'stdout carries only the result (mount point, JSON); logs go to stderr.',
    'Exit codes: 0 success, 1 failure (including a refused name or option key), 2 usage error.',
  ].join('\n');
}

/** Go's strconv.ParseBool. */
export function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
  return undefined;
}

/** --volumeopts reads one CSV record per value, as pflag's string slice does (see config/csv-record.ts). */
export function readCsvRecord(raw: string): CsvResult {
  return readCsvRecordWith(raw, { bareQuote: 'error' });
}

function isCommand(value: string): value is DvdcliCommandName {
  return (COMMANDS as readonly string[]).includes(value);
}

/** Parse `argv` (without node and the script). */
export function parseDvdcliArgs(argv: readonly string[]): ParseOutcome {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') return { kind: 'help', text: usage() };
  if (first === '--version') return { kind: 'args', args: { command: 'version', driver: DEFAULT_DRIVER, name: '', opts: {}, explicitCreate: false } };
  if (!isCommand(first)) {
    return { kind: 'usage-error', message: first.startsWith('-') ? `the command must come first, got flag ${first}` : `unknown command "${first}"` };
  }
  const command = first;
  const allowed = COMMAND_FLAGS[command];
  let driver = DEFAULT_DRIVER;
  let name = '';
  let explicitCreate = false;
  const items: string[] = [];
  const positional: string[] = [];

  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--') {
      positional.push(...rest.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') return { kind: 'help', text: usage() };
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) return { kind: 'usage-error', message: `unknown shorthand flag in ${arg} (dvdcli has no one-letter flags)` };
    const body = arg.slice(2);
    if (body.startsWith('-') || body.startsWith('=')) return { kind: 'usage-error', message: `bad flag syntax: ${arg}` };
    const eq = body.indexOf('=');
    const flag = eq < 0 ? body : body.slice(0, eq);
    const spec = Object.hasOwn(FLAG_SPECS, flag) ? FLAG_SPECS[flag] : undefined;
    if (spec === undefined || !allowed.includes(spec.name)) return { kind: 'usage-error', message: `unknown flag: --${flag} (for "${command}")` };
    let value: string;
    if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (spec.kind === 'bool') {
      value = 'true';
    } else {
      const next = rest[i + 1];
      if (next === undefined) return { kind: 'usage-error', message: `flag needs an argument: --${flag}` };
      value = next;
      i++;
    }
    switch (spec.name) {
      case 'volumedriver':
        driver = value;
        break;
      case 'volumename':
        name = value;
        break;
      case 'explicitcreate': {
        const parsed = parseGoBool(value);
        if (parsed === undefined) return { kind: 'usage-error', message: `invalid argument "${value}" for --${flag}: expected true or false` };
        explicitCreate = parsed;
        break;
      }
      case 'volumeopts': {
        const record = readCsvRecord(value);
        if ('error' in record) return { kind: 'usage-error', message: `invalid argument for --${flag}: ${record.error}` };
        items.push(...record);
        break;
      }
    }
  }
  if (positional.length > 0) {
    return { kind: 'usage-error', message: `unexpected argument(s) ${positional.map((p) => JSON.stringify(p)).join(' ')} for "${command}" (flags take --flag=value; booleans --flag=false)` };
  }
  const opts = optionsOf(items);
  if (typeof opts === 'string') return { kind: 'usage-error', message: opts };
  return { kind: 'args', args: { command, driver, name, opts, explicitCreate } };
}

/** The --volumeopts items as options, or the usage error's message. */
function optionsOf(items: readonly string[]): Record<string, string> | string {
  // A Map, not an object literal: a key such as __proto__ must not touch a prototype before the
  // key check refuses it.
  const opts = new Map<string, string>();
  let position = 0;
  for (const item of items) {
    // Blank items are dropped, as mesos-module-dvdi drops them; the first `=` splits, so a value may contain `=`.
    if (item.trim() === '') continue;
    position++;
    const at = item.indexOf('=');
    // The item is not quoted: it may be a secret typed without its key.
    if (at < 0) return `--volumeopts item ${position} has no "=" (expected key=value)`;
    opts.set(item.slice(0, at).trim(), item.slice(at + 1));
  }
  return Object.fromEntries(opts);
}
