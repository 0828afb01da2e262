// The one sanitizer for text from outside the process: control characters (C0, DEL, C1), line
// separators and bidi controls out, length capped with a count of what was left out, quoted.
import test from 'ava';
import fc from 'fast-check';
import { cleanExternalList, cleanExternalText, EXTERNAL_LIST_MAX, EXTERNAL_TEXT_MAX, quoteExternal, showExternalList } from '../../../src/common/external-text.js';
import { renderStatus } from '../../../src/cli/status-render.js';
import type { VolumeView } from '../../../src/refcount/refcount-store.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test('finding 7: ANSI escapes, newlines, U+009B, DEL and bidi overrides/isolates become spaces', (t) => {
  t.is(cleanExternalText('a\u001b[31mb\r\nc\u009b2Jd\u007fe\u202ef\u2066g\u2069h\u200ei\u200fj\u061ck\u2028l'), 'a [31mb c 2Jd e f g h i j k l');
  t.is(cleanExternalText('plain text, ünïcödé 😀'), 'plain text, ünïcödé 😀');
});

test('finding 7: a 3 MB text is capped at 256 characters plus a count of the rest', (t) => {
  const huge = `x${'y'.repeat(3 * 1024 * 1024)}`;
  const out = cleanExternalText(huge);
  t.is(out, `x${'y'.repeat(EXTERNAL_TEXT_MAX - 1)}…(${huge.length - EXTERNAL_TEXT_MAX} more)`);
  t.is(cleanExternalText('abcdef', 3), 'abc…(3 more)');
});

test('finding 7: the cap never splits a surrogate pair', (t) => {
  const out = cleanExternalText(`a${'😀'.repeat(10)}`, 4);
  t.is(out, 'a😀…(18 more)', '21 code units in, 3 shown');
});

test('finding 7: quoteExternal quotes and escapes quotes and backslashes', (t) => {
  t.is(quoteExternal('say "hi" \\ \n'), '"say \\"hi\\" \\\\  "');
});

test('finding 7: for any input the result holds no unsafe character and is bounded', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.integer({ min: 1, max: 300 }), (text, max) => {
      const out = cleanExternalText(text, max);
      return !UNSAFE.test(out) && out.length <= max + 24;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('finding 7: dvdi status prints store-record strings cleaned and quoted when they are not plain tokens', (t) => {
  const hostile = 'vol\u001b[2J\n  node fake: mounted\u202e';
  const text = renderStatus('redis', [
    {
      driver: 'drv',
      name: hostile,
      mode: 'exclusive',
      epoch: 3,
      holders: [{ token: 't', node: 'node-a', task: `task\u009b${'z'.repeat(3000)}`, role: 'holder', expiresInMs: 1000 }],
      nodes: [{ node: 'node-a', state: 'mounted', mountpoint: '/plain/path' }],
    } as unknown as VolumeView,
  ]);
  t.false(UNSAFE.test(text.replace(/\n/g, '')), text);
  t.is(text.split('\n').length, 5, 'no line was added by the record');
  t.true(text.includes('"vol [2J   node fake: mounted "  driver=drv'), text);
  t.true(text.includes('at /plain/path'), 'plain tokens stay bare');
  t.regex(text, /"task z+…\(\d+ more\)" \(lease/);
});

test('store-record lists (node IDs of a forged record): each item cleaned and capped, at most EXTERNAL_LIST_MAX of them, the rest counted', (t) => {
  const nodes = Array.from({ length: 300 }, (_, i) => `node-${i}\n{"level":"info"}\u001b[2J\u202e${'n'.repeat(4000)}`);
  const logged = cleanExternalList(nodes);
  t.is(logged.length, EXTERNAL_LIST_MAX + 1);
  t.is(logged.at(-1), `…(${300 - EXTERNAL_LIST_MAX} more)`);
  t.false(logged.some((s) => UNSAFE.test(s) || s.length > EXTERNAL_TEXT_MAX + 24), JSON.stringify(logged[0]));
  const message = showExternalList(nodes);
  t.false(UNSAFE.test(message));
  t.true(message.length < (EXTERNAL_LIST_MAX + 1) * (EXTERNAL_TEXT_MAX + 32), `${message.length} characters`);
  t.true(message.startsWith('"node-0 {\\"level\\":\\"info\\"} [2J nnn'), message.slice(0, 80));
  t.true(message.endsWith(` …(${300 - EXTERNAL_LIST_MAX} more)`));
  t.is(showExternalList(['node-a', 'node-b']), 'node-a, node-b', 'plain IDs are shown as they are');
  t.deepEqual(cleanExternalList(['node-a']), ['node-a']);
});
