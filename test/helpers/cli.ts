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

/** Start `dvdi ARGS` with extra env; collects output. */
export function startDvdi(args: string[], env: Record<string, string | undefined> = {}, entry = DVDI): ChildProcess & { output: { stdout: string; stderr: string }; finished: Promise<Finished> } {
  const child = spawn(process.execPath, [...entry, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
