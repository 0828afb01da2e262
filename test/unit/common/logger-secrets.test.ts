// Finding 7, the logger's two nets: a registered secret never survives into a finished line
// (plain or JSON-escaped), and a failed client command's arguments (ioredis' AUTH) are dropped.
import test from 'ava';
import { hideInLogs, scrubSecrets } from '../../../src/common/logger.js';
import { spawnSync } from 'node:child_process';
import { REPO } from '../../helpers/cli.js';

test('finding 7: a registered secret is replaced in a finished log line, also JSON-escaped', (t) => {
  hideInLogs('pa"ss\\word-77');
  const line = JSON.stringify({ msg: 'x', url: 'redis://u:pa"ss\\word-77@h' });
  const out = scrubSecrets(line);
  t.false(out.includes('word-77'), out);
  t.true(out.includes('<redacted>'));
  t.is(scrubSecrets('nothing secret here'), 'nothing secret here');
});

test('finding 7: secrets shorter than 3 characters are not scrubbed (they would mangle ordinary text)', (t) => {
  hideInLogs('ab');
  t.is(scrubSecrets('about tabs'), 'about tabs');
});

test('finding 7: the err serializer of createLogger drops command arguments, through causes', (t) => {
  // createLogger writes to fd 2 synchronously: run it in a child and read its stderr.
  const script = `
    import { createLogger } from './src/common/logger.ts';
    const e = new Error('WRONGPASS'); e.command = { name: 'auth', args: ['user', 'Sup3rSecret'] };
    createLogger('debug').error({ err: new Error('outer', { cause: e }) }, 'failed');
    createLogger('debug').error({ err: e }, 'failed');`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  t.is(child.status, 0, child.stderr);
  const lines = child.stderr.trim().split('\n').map((line) => JSON.parse(line) as { err: { command?: { name: string; args: unknown } } });
  t.is(lines.length, 2);
  t.false(child.stderr.includes('Sup3rSecret'), child.stderr);
  t.deepEqual(lines[1]?.err.command, { name: 'auth', args: '<2 arguments>' }, 'the command name stays: it says what failed');
});
