// dvdcli's argv as cobra/pflag reads it: the shapes mesos-module-dvdi and Mesos build, the
// string-slice (CSV) semantics of --volumeopts, Go booleans, and every usage error.
import test from 'ava';
import fc from 'fast-check';
import { parseDvdcliArgs, parseGoBool, readCsvRecord, type DvdcliArgs } from '../../../src/cli/dvdcli-args.js';

function args(argv: string[]): DvdcliArgs {
  const outcome = parseDvdcliArgs(argv);
  if (outcome.kind !== 'args') throw new Error(`expected args for ${JSON.stringify(argv)}, got ${JSON.stringify(outcome)}`);
  return outcome.args;
}

function usageError(argv: string[]): string {
  const outcome = parseDvdcliArgs(argv);
  if (outcome.kind !== 'usage-error') throw new Error(`expected a usage error for ${JSON.stringify(argv)}, got ${JSON.stringify(outcome)}`);
  return outcome.message;
}

test('mesos-module-dvdi mount: one --volumeopts per item, --explicitCreate=true', (t) => {
  t.deepEqual(args(['mount', '--volumedriver=rexray', '--volumename=vol1', '--volumeopts=size=5', '--volumeopts=iops=100', '--explicitCreate=true']), {
    command: 'mount',
    driver: 'rexray',
    name: 'vol1',
    opts: { size: '5', iops: '100' },
    explicitCreate: true,
  });
});

test("Mesos docker/volume isolator mount and unmount; driver defaults to rexray", (t) => {
  t.deepEqual(args(['mount', '--volumedriver=rexray', '--volumename=v', '--volumeopts=size=1,volumetype=gp2']).opts, { size: '1', volumetype: 'gp2' });
  t.like(args(['unmount', '--volumedriver=rexray', '--volumename=v']), { command: 'unmount', driver: 'rexray', name: 'v' });
  t.is(args(['mount', '--volumename=v']).driver, 'rexray');
});

test('space-separated values, last string value wins, slices append, values keep "="', (t) => {
  const parsed = args(['mount', '--volumedriver', 'd1', '--volumename', 'first', '--volumename=second', '--volumeopts', 'a=1', '--volumeopts=b=x=y,c=']);
  t.is(parsed.driver, 'd1');
  t.is(parsed.name, 'second');
  t.deepEqual(parsed.opts, { a: '1', b: 'x=y', c: '' });
  // pflag takes the next argument as the value even when it looks like a flag.
  t.is(args(['mount', '--volumename', '--volumedriver=x']).name, '--volumedriver=x');
});

test('--volumeopts: CSV quoting keeps commas, blank items are dropped, a later key replaces an earlier one', (t) => {
  t.deepEqual(args(['mount', '--volumename=v', '--volumeopts="tags=a,b",size=2']).opts, { tags: 'a,b', size: '2' });
  t.deepEqual(args(['mount', '--volumename=v', '--volumeopts=a=1,,b=2,', '--volumeopts=']).opts, { a: '1', b: '2' });
  t.deepEqual(args(['mount', '--volumename=v', '--volumeopts=a=1', '--volumeopts=a=2']).opts, { a: '2' });
  t.regex(usageError(['mount', '--volumename=v', '--volumeopts=a="x']), /field 1 has a " but does not start with one/);
  t.regex(usageError(['mount', '--volumename=v', '--volumeopts="a=x']), /field 1 opens a quote that is never closed/);
});

test('explicitcreate: bare flag is true, Go booleans accepted, both spellings', (t) => {
  t.true(args(['mount', '--volumename=v', '--explicitcreate']).explicitCreate);
  t.false(args(['mount', '--volumename=v', '--explicitCreate=False']).explicitCreate);
  t.true(args(['mount', '--volumename=v', '--explicitcreate=1']).explicitCreate);
  t.false(args(['mount', '--volumename=v']).explicitCreate);
  t.regex(usageError(['mount', '--volumename=v', '--explicitcreate=yes']), /invalid argument "yes" for --explicitcreate/);
  t.regex(usageError(['mount', '--volumename=v', '--explicitcreate', 'false']), /unexpected argument\(s\) "false"/);
});

test('flags a command does not register are unknown, as in dvdcli', (t) => {
  t.regex(usageError(['unmount', '--volumename=v', '--volumeopts=a=1']), /unknown flag: --volumeopts \(for "unmount"\)/);
  t.regex(usageError(['create', '--volumename=v', '--explicitcreate']), /unknown flag: --explicitcreate/);
  t.regex(usageError(['list', '--volumename=v']), /unknown flag: --volumename/);
  t.regex(usageError(['version', '--volumedriver=x']), /unknown flag/);
});

test('usage errors: unknown command, flag first, shorthand, bad syntax, missing value, stray args, item without "="', (t) => {
  t.regex(usageError(['mnt']), /unknown command "mnt"/);
  t.regex(usageError(['--volumename=v', 'mount']), /the command must come first/);
  t.regex(usageError(['mount', '-n', 'v']), /unknown shorthand flag/);
  t.regex(usageError(['mount', '---volumename=v']), /bad flag syntax/);
  t.regex(usageError(['mount', '--=x']), /bad flag syntax/);
  t.regex(usageError(['mount', '--volumename']), /flag needs an argument: --volumename/);
  t.regex(usageError(['mount', '--volumename=v', 'extra']), /unexpected argument/);
  t.regex(usageError(['mount', '--volumename=v', '--', '--x']), /unexpected argument/);
  const message = usageError(['mount', '--volumename=v', '--volumeopts=secretvalue']);
  t.regex(message, /item 1 has no "="/);
  t.notRegex(message, /secretvalue/, 'an item without "=" may be a secret: never echoed');
});

test('help and version', (t) => {
  t.is(parseDvdcliArgs([]).kind, 'help');
  t.is(parseDvdcliArgs(['--help']).kind, 'help');
  t.is(parseDvdcliArgs(['mount', '-h']).kind, 'help');
  t.is(args(['--version']).command, 'version');
  t.is(args(['version']).command, 'version');
});

test('parseGoBool is strconv.ParseBool', (t) => {
  for (const v of ['1', 't', 'T', 'true', 'TRUE', 'True']) t.true(parseGoBool(v));
  for (const v of ['0', 'f', 'F', 'false', 'FALSE', 'False']) t.false(parseGoBool(v));
  for (const v of ['', 'yes', 'tRuE', ' true']) t.is(parseGoBool(v), undefined);
});

test('readCsvRecord round-trips fields written the way encoding/csv writes them', (t) => {
  const quote = (f: string): string => (/[",\r\n]/.test(f) || f.startsWith(' ') ? `"${f.replaceAll('"', '""')}"` : f);
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 8 }).filter((s) => !/[\r\n]/.test(s)), { minLength: 1, maxLength: 5 }), (fields) => {
      // encoding/csv writes a lone empty field as "" too; the reader gives it back as ''.
      const line = fields.length === 1 && fields[0] === '' ? '""' : fields.map(quote).join(',');
      return JSON.stringify(readCsvRecord(line)) === JSON.stringify(fields);
    }),
  );
  t.pass();
});
