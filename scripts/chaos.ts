// One chaos seed outside ava, printing the plan as it runs: `node --import tsx scripts/chaos.ts
// <seed> [ops]` (root; real mounts, loop devices and a private redis-server, all torn down at the
// end or on Ctrl-C). Exit 0 when no invariant was violated and the run did real work (sidecars
// ready, faults injected, unmounts completed), 1 otherwise (the trace file is named).
import { runChaos, teardownAllChaos, writeTraceInTempDir } from '../test/chaos/chaos-cluster.js';
import { stopAllRedis } from '../test/helpers/redis-server.js';
import { workShortfalls } from '../test/chaos/work-done.js';

const seed = Number(process.argv[2] ?? process.env.CHAOS_SEED ?? 1001);
const ops = Number(process.argv[3] ?? process.env.CHAOS_OPS ?? 200);
if (!Number.isInteger(seed) || !Number.isInteger(ops) || ops < 1) {
  process.stderr.write('usage: node --import tsx scripts/chaos.ts <seed> [ops]\n');
  process.exit(2);
}

async function cleanup(): Promise<void> {
  await teardownAllChaos();
  await stopAllRedis();
}
process.once('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

try {
  const result = await runChaos({ seed, ops, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`seed ${seed}: ${result.ops} ops in ${Math.round(result.wallMs / 1000)} s (${result.phases})\nfaults ${JSON.stringify(result.injected)}\nsidecars ${JSON.stringify(result.exits)}\nwork ${JSON.stringify(result.work)}\n`);
  const shortfalls = workShortfalls(result.work);
  for (const s of shortfalls) process.stdout.write(`TOO LITTLE WORK: ${s}\n`);
  if (shortfalls.length > 0) process.exitCode = 1;
  if (result.violations.length === 0) {
    process.stdout.write('no invariant violated\n');
  } else {
    const path = await writeTraceInTempDir(String(seed), result);
    for (const v of result.violations) process.stdout.write(`VIOLATION ${v.invariant}: ${v.message}\n`);
    process.stdout.write(`trace: ${path}\n`);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}
