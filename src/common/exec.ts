// External commands (mount, umount, losetup, mkfs…): always an argv array, never a shell,
// always a timeout, and a typed error that names the command, its exit code and stderr.
import { execa } from 'execa';
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

/**
 * `fds`: open descriptors handed to the child as its fds 3, 4, … (mount(8) is given
 * `/proc/self/fd/3` for a directory the mounter opened without following symlinks).
 */
export async function run(file: string, args: readonly string[], options: { timeoutMs?: number; input?: string; fds?: readonly number[] } = {}): Promise<ExecResult> {
  const result = await execa(file, args, {
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    input: options.input,
    // execa hands any descriptor number to child_process; its types spell out only 3-9.
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...((options.fds ?? []) as ReadonlyArray<3>)],
    shell: false,
    env: { LC_ALL: 'C' },
    extendEnv: true,
  });
  if (result.timedOut) throw new CommandError(file, args, `timed out after ${options.timeoutMs ?? 60_000} ms`, undefined, String(result.stderr ?? ''));
  if (result.failed) {
    const status = typeof result.exitCode === 'number' ? result.exitCode : undefined;
    const detail = result.exitCode === undefined ? (result.shortMessage ?? 'could not run') : `exit ${result.exitCode}`;
    throw new CommandError(file, args, detail, status, String(result.stderr ?? ''), result.cause);
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}
