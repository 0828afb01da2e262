import test from 'ava';
import { CommandError, run } from '../../../src/common/exec.js';

test('argv is passed as is, never through a shell; stdout and stderr come back', async (t) => {
  const result = await run('sh', ['-c', 'printf "%s|" "$@"; printf err >&2', 'sh', 'a b', '$HOME', ';ls']);
  t.is(result.stdout, 'a b|$HOME|;ls|');
  t.is(result.stderr, 'err');
});

test('LC_ALL=C is set and the rest of the environment kept', async (t) => {
  const result = await run('sh', ['-c', 'printf "%s %s" "$LC_ALL" "$PATH"']);
  t.is(result.stdout, `C ${process.env.PATH ?? ''}`);
});

test('input goes to stdin; without input stdin is closed', async (t) => {
  t.is((await run('cat', [], { input: 'hello\n' })).stdout, 'hello\n');
  t.is((await run('cat', [])).stdout, '');
});

test('a non-zero exit is a CommandError with the exit status and stderr in the message', async (t) => {
  const error = await t.throwsAsync(run('sh', ['-c', 'echo "no such device" >&2; exit 32']), { instanceOf: CommandError });
  t.is(error.code, 'DVDI_COMMAND_FAILED');
  t.is(error.exitStatus, 32);
  t.is(error.stderr, 'no such device\n');
  t.is(error.message, 'sh -c echo "no such device" >&2; exit 32: exit 32: no such device');
  t.is(error.exitCode, 3);
});

test('a timeout kills the command and names the limit', async (t) => {
  const started = Date.now();
  const error = await t.throwsAsync(run('sleep', ['30'], { timeoutMs: 200 }), { instanceOf: CommandError });
  t.regex(error.message, /^sleep 30: timed out after 200 ms/);
  t.is(error.exitStatus, undefined);
  t.true(Date.now() - started < 10_000);
});

test('a command that cannot start is a CommandError naming the reason', async (t) => {
  const error = await t.throwsAsync(run('/nonexistent/dvdi-no-such-binary', ['x']), { instanceOf: CommandError });
  t.regex(error.message, /^\/nonexistent\/dvdi-no-such-binary x: could not run \(ENOENT\)/);
  t.is(error.exitStatus, undefined);
});
