// The chaos suite against the other habits a volume plugin may have: every plugin of the
// simulated nodes runs `dvdi plugin --habits rclone` (Unmount of an ID it does not hold is
// refused with `volume is not mounted`, Path always answers), as rclone's plugin does. One seed
// by default; reproduce or widen with CHAOS_HABITS_SEED=<seed>[,…] CHAOS_OPS=<ops>.
// The invariants hold trivially in a run where no Unmount was ever refused (the habit never came
// into play), so the run must also show refusals in the plugins' journals (work.unmountsRefused)
// and have done the ordinary work (work-done.ts).
import test from 'ava';
import { runChaos, teardownAllChaos, writeTraceInTempDir } from './chaos-cluster.js';
import { stopAllRedis } from '../helpers/redis-server.js';
import { workShortfalls } from './work-done.js';

const seeds = process.env.CHAOS_HABITS_SEED ? process.env.CHAOS_HABITS_SEED.split(',').map(Number) : [1001];
const ops = Number(process.env.CHAOS_OPS ?? 200);

test.after.always(async () => {
  await teardownAllChaos();
  await stopAllRedis();
});

for (const seed of seeds) {
  test.serial(`chaos seed ${seed} × ${ops} operations with rclone-habits plugins: no invariant violated`, async (t) => {
    t.timeout(300_000);
    const result = await runChaos({ seed, ops, habits: 'rclone', ...(process.env.CHAOS_VERBOSE ? { log: (line: string) => t.log(line) } : {}) });
    const reproduce = `CHAOS_HABITS_SEED=${seed} CHAOS_OPS=${ops} npx ava test/chaos/chaos-habits.test.ts`;
    t.log(`seed ${seed} (rclone habits): ${result.ops} ops in ${Math.round(result.wallMs / 1000)} s (${result.phases}); faults ${JSON.stringify(result.injected)}; sidecar exits ${JSON.stringify(result.exits)}; work ${JSON.stringify(result.work)}`);
    if (result.violations.length > 0) {
      const tracePath = await writeTraceInTempDir(`habits-${seed}`, result);
      t.log(`reproduce: ${reproduce}; trace: ${tracePath}`);
      for (const v of result.violations) t.log(`VIOLATION ${v.invariant}: ${v.message}`);
    }
    t.deepEqual(result.violations, [], `seed ${seed} violated invariants with rclone habits; reproduce with: ${reproduce}`);
    t.deepEqual(workShortfalls(result.work), [], `seed ${seed} did too little to prove anything; reproduce with: ${reproduce}`);
    // Whether some Unmount of an ID that held nothing is refused depends on timing: seed 1001 had
    // 2 in one run and 0 in a fresh-clone run beside the rest of the suite. So it is reported,
    // not asserted; the deterministic proof of the refusal path is test/integration/rclone/.
    if (result.work.unmountsRefused === 0) t.log(`seed ${seed}: no Unmount was refused with "volume is not mounted" in this run: the rclone habit was not exercised`);
  });
}
