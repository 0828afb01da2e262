// The bundle's stand-in for node-cron's Intl.DateTimeFormat (scripts/bundle-stand-ins/): it must
// give node-cron the same wall-clock fields and UTC offsets as ICU does, in every time zone, and
// node-cron built with it (the plugin scripts/bundle.mjs uses) must find the same next matches
// as node-cron from node_modules, without ever constructing an Intl.DateTimeFormat.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { build, type Plugin } from 'esbuild';
import fc from 'fast-check';
import { REPO } from '../../helpers/cli.js';

type Formatter = { formatToParts(date: Date): Intl.DateTimeFormatPart[] };
type FormatterClass = new (locale: string, options: Intl.DateTimeFormatOptions) => Formatter;
interface Matcher {
  getNextMatch(date: Date): Date;
}
type CronModule = { createTask(expression: string, fn: () => void): { timeMatcher: Matcher; destroy(): unknown } };

const STAND_IN = join(REPO, 'scripts/bundle-stand-ins/cron-date-time-format.mjs');
const PLUGIN = join(REPO, 'scripts/bundle-stand-ins/node-cron-local-time.mjs');
// Whole hours, half and quarter hours, DST north and south, a 30-minute DST (Lord Howe), and a
// zone whose offset changed for good (Samoa skipped 2011-12-30).
const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham', 'Pacific/Apia', 'America/Sao_Paulo'];
// node-cron's two shapes (node_modules/node-cron/dist/_shared.js).
const PARTS_OPTIONS: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', weekday: 'short', hour12: false };
const OFFSET_OPTIONS: Intl.DateTimeFormatOptions = { timeZone: undefined, timeZoneName: 'shortOffset' };
const FROM = Date.UTC(1971, 0, 1);
const TO = Date.UTC(2099, 11, 31);

let StandIn: FormatterClass;
let patched: CronModule;
let outDir = '';

test.before(async () => {
  StandIn = ((await import(pathToFileURL(STAND_IN).href)) as { DateTimeFormat: FormatterClass }).DateTimeFormat;
  const { cronLocalTime } = (await import(pathToFileURL(PLUGIN).href)) as { cronLocalTime: Plugin };
  outDir = await mkdtemp(join(tmpdir(), 'dvdi-test-cron-'));
  const entry = join(outDir, 'entry.mjs');
  await writeFile(entry, "export { createTask } from 'node-cron';\n");
  await build({ entryPoints: [entry], outfile: join(outDir, 'node-cron.mjs'), bundle: true, format: 'esm', platform: 'node', nodePaths: [join(REPO, 'node_modules')], plugins: [cronLocalTime], logLevel: 'warning' });
  patched = (await import(pathToFileURL(join(outDir, 'node-cron.mjs')).href)) as CronModule;
});
test.after.always(async () => {
  if (outDir !== '') await rm(outDir, { recursive: true, force: true });
  delete process.env.TZ;
});

/** What node-cron makes of a formatter's parts (its buildDateParts and getTimezoneGMT). */
function asCronSees(parts: Intl.DateTimeFormatPart[]): Record<string, string | number> {
  const seen: Record<string, string | number> = {};
  for (const { type, value } of parts) {
    if (type === 'literal') continue;
    if (type === 'weekday') seen[type] = value;
    else if (type === 'timeZoneName') {
      const m = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(value);
      seen.offsetMinutes = value === 'GMT' || m === null ? 0 : (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
    } else seen[type] = type === 'hour' && value === '24' ? 0 : Number(value);
  }
  return seen;
}

test.serial('node-cron built with the plugin constructs no Intl.DateTimeFormat; the one from node_modules does', async (t) => {
  const unpatched = await unpatchedFor('counting');
  const Real = Intl.DateTimeFormat;
  let constructed = 0;
  const Counting = function (this: unknown, ...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
    constructed += 1;
    return new Real(...args);
  } as unknown as typeof Intl.DateTimeFormat;
  Intl.DateTimeFormat = Counting;
  try {
    process.env.TZ = 'Asia/Kathmandu';
    const from = new Date(Date.UTC(2026, 11, 2, 13, 0, 0));
    const next = patched.createTask('0 */20 * * * *', () => {}).timeMatcher.getNextMatch(from);
    t.is(constructed, 0);
    t.is(next.toISOString(), '2026-12-02T13:15:00.000Z'); // 19:00 NPT (+5:45) is 13:15 UTC
    unpatched.createTask('0 */20 * * * *', () => {}).timeMatcher.getNextMatch(from);
    t.true(constructed > 0, 'the check would see node-cron construct one');
  } finally {
    Intl.DateTimeFormat = Real;
  }
});

test.serial('the stand-in gives the fields and the offset ICU gives, in every zone', (t) => {
  let compared = 0;
  for (const zone of ZONES) {
    process.env.TZ = zone;
    const parts = new StandIn('en-US', PARTS_OPTIONS);
    const offset = new StandIn('en-US', OFFSET_OPTIONS);
    const icuParts = new Intl.DateTimeFormat('en-US', PARTS_OPTIONS);
    const icuOffset = new Intl.DateTimeFormat('en-US', OFFSET_OPTIONS);
    fc.assert(
      fc.property(fc.integer({ min: FROM, max: TO }), (ms) => {
        const date = new Date(ms);
        compared += 1;
        return (
          JSON.stringify(asCronSees(parts.formatToParts(date))) === JSON.stringify(asCronSees(icuParts.formatToParts(date))) &&
          asCronSees(offset.formatToParts(date)).offsetMinutes === asCronSees(icuOffset.formatToParts(date)).offsetMinutes
        );
      }),
      { numRuns: 2_000 },
    );
  }
  t.is(compared, ZONES.length * 2_000);
});

test.serial('around DST changes the stand-in and ICU agree minute by minute', (t) => {
  // Each zone's 2026 changes, ±2 h around them, every minute (Samoa: its skipped day in 2011).
  const changes: Array<[string, number]> = [
    ['America/New_York', Date.UTC(2026, 2, 8, 7)],
    ['America/New_York', Date.UTC(2026, 10, 1, 6)],
    ['Europe/Berlin', Date.UTC(2026, 2, 29, 1)],
    ['Australia/Lord_Howe', Date.UTC(2026, 3, 4, 15)],
    ['Australia/Lord_Howe', Date.UTC(2026, 9, 3, 15, 30)],
    ['Pacific/Chatham', Date.UTC(2026, 8, 26, 14)],
    ['Pacific/Apia', Date.UTC(2011, 11, 30, 10)],
  ];
  let compared = 0;
  for (const [zone, at] of changes) {
    process.env.TZ = zone;
    const parts = new StandIn('en-US', PARTS_OPTIONS);
    const offset = new StandIn('en-US', OFFSET_OPTIONS);
    const icuParts = new Intl.DateTimeFormat('en-US', PARTS_OPTIONS);
    const icuOffset = new Intl.DateTimeFormat('en-US', OFFSET_OPTIONS);
    for (let ms = at - 2 * 3_600_000; ms <= at + 2 * 3_600_000; ms += 60_000) {
      const date = new Date(ms);
      t.deepEqual(asCronSees(parts.formatToParts(date)), asCronSees(icuParts.formatToParts(date)), `${zone} ${date.toISOString()}`);
      t.is(asCronSees(offset.formatToParts(date)).offsetMinutes, asCronSees(icuOffset.formatToParts(date)).offsetMinutes, `${zone} ${date.toISOString()}`);
      compared += 1;
    }
  }
  t.is(compared, changes.length * 241);
});

test.serial('another locale, another shape or an explicit timeZone gets the real Intl.DateTimeFormat', (t) => {
  t.true(new StandIn('en-US', { ...PARTS_OPTIONS, timeZone: 'Asia/Tokyo' }) instanceof Intl.DateTimeFormat);
  t.true(new StandIn('en-US', { timeZone: 'Asia/Tokyo', timeZoneName: 'shortOffset' }) instanceof Intl.DateTimeFormat);
  t.true(new StandIn('de-DE', PARTS_OPTIONS) instanceof Intl.DateTimeFormat);
  t.true(new StandIn('en-US', { ...PARTS_OPTIONS, hour12: true }) instanceof Intl.DateTimeFormat);
  t.true(new StandIn('en-US', { year: 'numeric' }) instanceof Intl.DateTimeFormat);
  t.false(new StandIn('en-US', PARTS_OPTIONS) instanceof Intl.DateTimeFormat);
  t.throws(() => new StandIn('en-US', PARTS_OPTIONS).formatToParts(new Date(Number.NaN)), { instanceOf: RangeError });
});

const FIELDS = [
  ['0', '*/15', '5,35', '*'],
  ['*', '*/5', '0', '30', '15-45/10'],
  ['*', '2', '*/6', '9-17', '0,12'],
  ['*', '1', '15', 'L', '15W', 'L-2', '31'],
  ['*', '3', '*/2', 'jan,jul', '2'],
  ['*', '1-5', '0', 'sun', '5L', '6'],
] as const;

/**
 * node-cron from node_modules, unpatched, as a module instance of its own for one zone: it caches
 * its formatters, and an Intl.DateTimeFormat keeps the zone it was made in.
 */
async function unpatchedFor(zone: string): Promise<CronModule> {
  const entry = join(outDir, 'entry.mjs');
  const outfile = join(outDir, `node-cron-${zone.replace('/', '-')}.mjs`);
  await build({ entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'node', nodePaths: [join(REPO, 'node_modules')], logLevel: 'warning' });
  return (await import(pathToFileURL(outfile).href)) as CronModule;
}

/** The next match, or the error (Feb 31 is refused; 15W on Sundays never matches: node-cron gives up). */
function nextOrError(cron: CronModule, expression: string, from: Date): string {
  try {
    const task = cron.createTask(expression, () => {});
    try {
      return task.timeMatcher.getNextMatch(from).toISOString();
    } finally {
      task.destroy();
    }
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

test.serial('node-cron with the stand-in finds the same next matches as node-cron from node_modules, in every zone', async (t) => {
  let compared = 0;
  for (const zone of ZONES) {
    process.env.TZ = zone;
    const real = await unpatchedFor(zone);
    fc.assert(
      fc.property(fc.tuple(...FIELDS.map((choices) => fc.constantFrom(...choices))), fc.integer({ min: FROM, max: Date.UTC(2090, 0, 1) }), (fields, ms) => {
        const expression = fields.join(' ');
        compared += 1;
        return nextOrError(patched, expression, new Date(ms)) === nextOrError(real, expression, new Date(ms));
      }),
      { numRuns: 60 },
    );
  }
  t.is(compared, ZONES.length * 60);
});
