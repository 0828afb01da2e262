// Runs the `dvdi` / `dvdcli` commands from source (through tsx), as a user would run the bins.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const DVDI = ['--import', 'tsx', `${REPO}src/cli/dvdi.ts`];
export const DVDCLI = ['--import', 'tsx', `${REPO}src/cli/dvdcli.ts`];

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** How to run node inside something (a memory cgroup's `wrap`, say): the argv that runs `command args`. */
export type Wrap = (command: string, args: readonly string[]) => [string, string[]];

/** Start `dvdi ARGS` with extra env; collects output. */
export function startDvdi(args: string[], env: Record<string, string | undefined> = {}, entry = DVDI, wrap?: Wrap): ChildProcess & { output: { stdout: string; stderr: string }; finished: Promise<Finished> } {
  const [command, argv] = wrap?.(process.execPath, [...entry, ...args]) ?? [process.execPath, [...entry, ...args]];
  const child = spawn(command, argv, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, ...output })));
  return Object.assign(child, { output, finished });
}

export async function runDvdi(args: string[], env: Record<string, string | undefined> = {}, entry = DVDI): Promise<Finished> {
  return startDvdi(args, env, entry).finished;
}

/** Resolve when `predicate` holds, polling; reject after `timeoutMs` with `what` in the message. */
/** The URL a sidecar logged for its HTTP endpoints; throws if it exits before logging one. */
export async function sidecarUrl(child: ReturnType<typeof startDvdi>): Promise<string> {
  let url: string | undefined;
  await waitFor('the sidecar HTTP url', () => {
    // Look for the line first: a sidecar that fails fast (exit 4 on a conflict) has still
    // logged its URL, and the test wants its exit code, not this helper's complaint.
    for (const line of child.output.stderr.split('\n')) {
      if (!line.includes('http endpoints listening')) continue;
      url = (JSON.parse(line) as { url: string }).url;
      return true;
    }
    if (child.exitCode !== null) throw new Error(`sidecar exited early (${child.exitCode}): ${child.output.stderr}`);
    return false;
  }, 30_000);
  return url!;
}

/** Polls `url`/readyz until it answers `status`; throws if the sidecar exits first. */
export async function waitReadyz(child: ReturnType<typeof startDvdi>, url: string, status = 200, timeoutMs = 60_000, intervalMs?: number): Promise<void> {
  await waitFor(`sidecar ${url} /readyz ${status}`, async () => {
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}): ${child.output.stderr}`);
    try {
      return (await fetch(`${url}/readyz`)).status === status;
    } catch {
      return false;
    }
  }, timeoutMs, intervalMs);
}

export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
