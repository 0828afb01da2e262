// Finding 7 (hostile text): a plugin whose Mount answers an Err full of terminal escapes,
// newlines, C1 controls (U+009B) and bidi overrides, a 3 MB Err or a 3 MB Mountpoint, against a
// real sidecar process: it fails with exit 3, and its stderr stays short, every log line stays
// one JSON object whose strings hold no control or bidi character, and the plugin's text is quoted.
import test from 'ava';
import { join } from 'node:path';
import { runDvdi } from '../../helpers/cli.js';
import { HUGE_TEXT_LENGTH, startMisbehavingPlugin, type PluginMode } from '../../helpers/misbehaving-plugin.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Every string inside a parsed JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

async function sidecarAgainst(mode: PluginMode): Promise<{ code: number | null; stderr: string }> {
  const node = await rig();
  const plugin = await startMisbehavingPlugin({ socketPath: join(node.pluginDirs, 'hostile.sock'), mountRoot: join(node.temp.dir, 'hostile-mounts'), modes: { Mount: mode } });
  try {
    return await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'victim', DVDI_VOLUME_DRIVER: 'hostile', DVDI_LOG_LEVEL: 'debug', DVDI_TASK_ID: `hostile-${mode}` });
  } finally {
    await plugin.close();
  }
}

for (const mode of ['hostile-err', 'huge-err', 'huge-mountpoint', 'hostile-mountpoint'] as const) {
  test(`finding 7: a plugin answering Mount with ${mode}: exit 3, short clean stderr, the plugin's text quoted`, async (t) => {
    const { code, stderr } = await sidecarAgainst(mode);
    t.is(code, 3, stderr.slice(-3000));
    t.true(stderr.length < 64 * 1024, `stderr is ${stderr.length} bytes for a ${HUGE_TEXT_LENGTH}-byte reply`);
    t.false(UNSAFE.test(stderr), 'no raw control or bidi character on stderr');
    const lines = stderr.split('\n').filter((line) => line !== '');
    for (const line of lines) {
      if (line.startsWith('dvdi sidecar: ')) continue; // the final one-line summary
      const parsed = JSON.parse(line) as unknown; // a forged line would not parse, or would parse as its own object
      const bad = strings(parsed).find((s) => UNSAFE.test(s.replace(/\n {4}at .*/g, '')) || s.length > 20_000);
      t.is(bad, undefined, `a log string holds control/bidi characters or is huge: ${JSON.stringify(bad?.slice(0, 200))}`);
      t.false(strings(parsed).some((s) => s.includes('FORGED') && /[\r\n]/.test(s.split('\n    at ')[0] ?? '')), 'the plugin text keeps no line break');
    }
    t.false(lines.some((line) => line.includes('"msg":"FORGED line"')), 'the forged line never stands as a line of its own');
    const summary = lines.find((line) => line.startsWith('dvdi sidecar: ')) ?? '';
    if (mode === 'hostile-err') t.regex(summary, /plugin replied HTTP 500: "\[2J \[31mcleared \[0m \{\\"level\\":\\"info\\",\\"msg\\":\\"FORGED line\\"\} 2Jcsi +esrever +isolated +tail end"/);
    if (mode === 'huge-err') t.regex(summary, /plugin replied HTTP 500: "huge:E+…\(\d+ more\)"/);
    if (mode.endsWith('mountpoint')) t.regex(summary, /DVDI_DRIVER_BAD_REPLY|malformed reply: Mountpoint "/);
  });
}
