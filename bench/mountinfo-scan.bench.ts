// What one volume health check's read of the mount table costs a sidecar on a crowded node:
// parseMountInfoAt (only the lines at the task's binds are parsed) beside parseMountInfo + filter
// (every line parsed, as the check did before 2026-12-03), on tables of the machine's own mounts
// plus N binds of other tasks under the shared mount root (every sidecar of a node sees them
// all). The check runs every 5 s in every sidecar, so a node of N tasks parses N tables of ~N
// lines each period. Two figures per table, each measured in its own child process:
//   CPU per read: under the image's node flags (--no-opt --max-semi-space-size=1: no optimizing
//     compiler, as in the container), median of 7 batches;
//   bytes allocated per read: heap growth across a batch of 2R reads less that of R reads, from a
//     collection just before them, in a child with a young generation large enough that no
//     collection runs meanwhile (a run in which one ran is reported as '-').
// The kernel's rendering of /proc/self/mountinfo costs both alike and is not counted. Figures only.
// Run: node --import tsx bench/mountinfo-scan.bench.ts [--lines 0,100,400,2000]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseMountInfo, parseMountInfoAt } from '../src/common/mountinfo.js';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '0,100,400,2000' }, child: { type: 'string' } } });
const ROOT = '/var/lib/dvdi/mounts';

/** The machine's own table plus `n` binds of other tasks' volumes; the task's own bind sits in the middle. */
function table(n: number): { text: string; wanted: Set<string> } {
  const own = readFileSync('/proc/self/mountinfo', 'utf8').trimEnd().split('\n');
  const binds = Array.from({ length: n + 1 }, (_, i) => `${1000 + i} 30 0:${60 + (i % 200)} /volumes/vol-${i}/_data ${ROOT}/vol-${i} rw,nosuid,nodev,relatime shared:${500 + i} - ext4 /dev/loop${i % 64} rw,errors=remount-ro`);
  const wanted = new Set([`${ROOT}/vol-${Math.floor(n / 2)}`]);
  return { text: `${[...own, ...binds].join('\n')}\n`, wanted };
}

const readers = {
  before: (text: string, wanted: Set<string>) => parseMountInfo(text).filter((e) => wanted.has(e.mountPoint)),
  now: (text: string, wanted: Set<string>) => parseMountInfoAt(text, wanted),
};
type Reader = keyof typeof readers;

function child(mode: string, reader: Reader, n: number): void {
  const { text, wanted } = table(n);
  const read = readers[reader];
  if (read(text, wanted).length !== 1) throw new Error(`${reader}: the task's bind was not found`);
  const batch = 200;
  if (mode === 'cpu') {
    for (let i = 0; i < batch; i++) read(text, wanted); // warm up (bytecode, inline caches)
    const perRead: number[] = [];
    for (let b = 0; b < 7; b++) {
      const start = process.cpuUsage();
      for (let i = 0; i < batch; i++) read(text, wanted);
      const used = process.cpuUsage(start);
      perRead.push((used.user + used.system) / batch / 1000);
    }
    process.stdout.write(`${perRead.sort((a, b) => a - b)[3]}\n`);
    return;
  }
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 5; i++) read(text, wanted);
  // Batches of R and 2R reads: their difference cancels what measuring itself allocates.
  const reads = reader === 'now' ? 200 : Math.max(3, Math.floor(6000 / (n + 40)));
  (globalThis as { gc?: () => void }).gc?.(); // an empty young generation for the batches
  // its own gc entry arrives asynchronously: start counting after it
  setTimeout(() => {
    collections = 0;
    const grown = (count: number): number => {
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < count; i++) read(text, wanted);
      return process.memoryUsage().heapUsed - before;
    };
    grown(1); // the first call's own allocations (its bytecode, memoryUsage's) are not a read's
    const once = grown(reads);
    const twice = grown(2 * reads);
    setTimeout(() => {
      observer.disconnect();
      process.stdout.write(`${collections > 0 || twice < once ? NaN : (twice - once) / reads}\n`);
    }, 100);
  }, 100);
}

function measure(mode: string, reader: Reader, n: number): number {
  const flags = mode === 'cpu' ? ['--no-opt', '--max-semi-space-size=1'] : ['--no-opt', '--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const out = execFileSync(process.execPath, [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', `${mode}:${reader}:${n}`], { encoding: 'utf8', timeout: 120_000 });
  return Number(out.trim());
}

if (values.child !== undefined) {
  const [mode = '', reader = '', n = ''] = values.child.split(':');
  if (!(reader in readers)) throw new Error(`--child: reader must be before or now, not ${reader}`);
  child(mode, reader as Reader, Number(n));
} else {
  const counts = values.lines.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--lines: comma-separated counts of other binds, e.g. 0,100,400,2000, not ${values.lines}`);
  const own = table(0).text.split('\n').length - 2;
  process.stdout.write(`one health check's mount table read — node ${process.version}, ${own} mounts of the machine's own + N other tasks' binds\n`);
  process.stdout.write(`${'N'.padStart(6)}${'lines'.padStart(7)}${'before µs'.padStart(11)}${'now µs'.padStart(9)}${'ratio'.padStart(7)}${'before KB'.padStart(11)}${'now KB'.padStart(9)}\n`);
  for (const n of counts) {
    const cpu = { before: measure('cpu', 'before', n), now: measure('cpu', 'now', n) };
    const bytes = { before: measure('alloc', 'before', n), now: measure('alloc', 'now', n) };
    const kb = (b: number) => (Number.isFinite(b) ? (b / 1024).toFixed(1) : '-');
    process.stdout.write(`${String(n).padStart(6)}${String(own + n + 1).padStart(7)}${(cpu.before * 1000).toFixed(0).padStart(11)}${(cpu.now * 1000).toFixed(0).padStart(9)}${(cpu.now / cpu.before).toFixed(2).padStart(7)}${kb(bytes.before).padStart(11)}${kb(bytes.now).padStart(9)}\n`);
  }
}
