// The one way text from outside the process (plugin replies and their Err, volume names and
// mountpoints from store records, Docker labels, file contents) is printed in a log line, an
// error message or `dvdi status`: control characters (C0, DEL, C1 — U+009B is a one-byte CSI
// to many terminals), line and paragraph separators and bidi controls (which reorder what a
// reader sees: "Trojan Source") become one space per run, and the result is capped, so a
// hostile or broken peer can neither forge log lines or terminal output nor flood stderr.

/** Default cap, in UTF-16 code units of the cleaned text. */
export const EXTERNAL_TEXT_MAX = 256;

// C0, DEL and C1; U+061C (Arabic letter mark), U+200E/F (LRM/RLM), U+2028/9 (line/paragraph
// separators), U+202A-202E (embeddings/overrides), U+2066-2069 (isolates).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;
const UNSAFE_HERE = new RegExp(UNSAFE.source, 'y');

/**
 * `text` made printable on one line and capped at `max` (+ "…(N more)", N counted in the
 * input's code units). Work is bounded by `max`, not by the input: a 3 MB reply costs as much
 * as a short one. Never splits a surrogate pair.
 */
export function cleanExternalText(text: string, max = EXTERNAL_TEXT_MAX): string {
  // Look only at a window a bit larger than the cap: runs of unsafe characters shrink to one
  // space, so a window of 4×max + 16 cleans to more than max unless the input is mostly noise.
  const windowSize = max * 4 + 16;
  const head = text.length > windowSize ? text.slice(0, windowSize) : text;
  const cleaned = head.replace(UNSAFE, ' ');
  if (cleaned.length <= max && head.length === text.length) return cleaned;
  let cut = Math.min(max, cleaned.length);
  const code = cleaned.charCodeAt(cut - 1);
  if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut -= 1; // keep the pair whole
  const shown = cleaned.slice(0, cut);
  // Map the shown part back to how much of the input it covers, to count what is left out.
  let consumed = 0;
  let produced = 0;
  while (produced < shown.length && consumed < head.length) {
    UNSAFE_HERE.lastIndex = consumed;
    const run = UNSAFE_HERE.exec(head);
    consumed += run === null ? 1 : run[0].length; // a run of unsafe characters became one space
    produced += 1;
  }
  const rest = text.length - consumed;
  return rest > 0 ? `${shown}…(${rest} more)` : shown;
}

/** `text` cleaned and capped, then quoted (`"…"`, with `"` and `\` escaped): for messages. */
export function quoteExternal(text: string, max = EXTERNAL_TEXT_MAX): string {
  return `"${cleanExternalText(text, max).replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Anything (a parsed JSON value from a peer) as quoted external text. */
export function quoteExternalValue(value: unknown, max = EXTERNAL_TEXT_MAX): string {
  if (typeof value === 'string') return quoteExternal(value, max);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return cleanExternalText(text, max);
}

const PLAIN_TOKEN = /^[A-Za-z0-9_.:/@+=,-]{1,256}$/;

/**
 * For plain-text tables (`dvdi status`): a value that is one plain token (names, paths without
 * spaces) is printed as it is, anything else quoted as by `quoteExternal` — as `ls` quotes only
 * names that need it. A bare value cannot hold a space, so it cannot pose as another field.
 */
export function showExternal(text: string, max = EXTERNAL_TEXT_MAX): string {
  return PLAIN_TOKEN.test(text) ? text : quoteExternal(text, max);
}

/** How many items of a list from outside (node IDs of a record) are shown before the rest is counted. */
export const EXTERNAL_LIST_MAX = 8;

/**
 * For log fields: each item cleaned and capped, at most `maxItems` of them, then one
 * "…(N more)" item. A forged record may list thousands of 4 KB node IDs: what is shown of it
 * stays a few KB.
 */
export function cleanExternalList(items: readonly string[], maxItems = EXTERNAL_LIST_MAX, max = EXTERNAL_TEXT_MAX): string[] {
  const shown = items.slice(0, maxItems).map((item) => cleanExternalText(item, max));
  return items.length > maxItems ? [...shown, `…(${items.length - maxItems} more)`] : shown;
}

/** For messages: items as by `showExternal`, joined with ", ", at most `maxItems`, then "…(N more)". */
export function showExternalList(items: readonly string[], maxItems = EXTERNAL_LIST_MAX, max = EXTERNAL_TEXT_MAX): string {
  const shown = items.slice(0, maxItems).map((item) => showExternal(item, max));
  return items.length > maxItems ? `${shown.join(', ')} …(${items.length - maxItems} more)` : shown.join(', ');
}
