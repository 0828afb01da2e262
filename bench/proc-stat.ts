// A process's CPU time as the kernel counts it, for the benchmarks that measure processes they started.
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux

/** utime + stime of `pid`, in seconds (/proc/PID/stat fields 14 and 15, after the command name, which may hold spaces and parentheses). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
