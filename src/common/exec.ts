// External commands (mount, umount, losetup, mkfs…): always an argv array, never a shell,
// always a timeout, and a typed error that names the command, its exit code and stderr.
// node:child_process directly: this is all the sidecar asks of a process runner, and a library
// for it cost more start-up time than the rest of the module graph.
import { spawn } from 'node:child_process';
import { DvdiError, ExitCode } from './errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends DvdiError {
  readonly exitStatus: number | undefined;
  readonly stderr: string;
  constructor(file: string, args: readonly string[], detail: string, exitStatus: number | undefined, stderr: string, cause?: unknown) {
    super('DVDI_COMMAND_FAILED', `${file} ${args.join(' ')}: ${detail}${stderr ? `: ${stderr.trim()}` : ''}`, {
      context: { command: file, exitStatus },
      cause,
      exitCode: ExitCode.MountFailed,
    });
    this.exitStatus = exitStatus;
    this.stderr = stderr;
  }
}

/** Output kept per stream; a mount helper prints a few lines, so more is a runaway. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** After a timeout's SIGTERM, how long the command gets before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/**
 * `fds`: open descriptors handed to the child as its fds 3, 4, … (mount(8) is given
 * `/proc/self/fd/3` for a directory the mounter opened without following symlinks).
 */
export async function run(file: string, args: readonly string[], options: { timeoutMs?: number; input?: string; fds?: readonly number[] } = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, {
      shell: false,
      // The child inherits the environment as any spawned helper does (PATH finds mount(8));
      // only the locale is pinned, so that stderr matched by the mounter reads the same everywhere.
      // eslint-disable-next-line no-restricted-properties
      env: { ...process.env, LC_ALL: 'C' },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(options.fds ?? [])],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      if ((outBytes += chunk.length) <= MAX_OUTPUT_BYTES) out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if ((errBytes += chunk.length) <= MAX_OUTPUT_BYTES) err.push(chunk);
    });
    if (options.input !== undefined && child.stdin) {
      // A command that exits without reading its input must not turn into an EPIPE crash.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    // 'close' comes after 'exit' and after the streams ended (also after an 'error' at spawn).
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) return reject(new CommandError(file, args, `timed out after ${timeoutMs} ms`, undefined, stderr));
      if (spawnError !== undefined) {
        const errno = (spawnError as NodeJS.ErrnoException).code;
        return reject(new CommandError(file, args, `could not run${errno ? ` (${errno})` : ''}`, undefined, stderr, spawnError));
      }
      if (signal !== null) return reject(new CommandError(file, args, `killed by ${signal}`, undefined, stderr));
      if (code !== 0) return reject(new CommandError(file, args, `exit ${code}`, code ?? undefined, stderr));
      resolve({ stdout, stderr });
    });
  });
}
