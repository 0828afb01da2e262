// Bundle stand-in for node-cron's two `new Intl.DateTimeFormat(...)` (scripts/bundle.mjs,
// cron-local-time). node-cron reads a date's wall-clock fields and its UTC offset through
// Intl.DateTimeFormat#formatToParts, even with no timezone option (the host's local time, which
// is all dvdi asks of it). The first Intl.DateTimeFormat in a process loads ICU's locale and
// calendar data: +8.6 MiB RSS on Node 22.23, of which 1.7 MiB anonymous (/proc/self/status,
// measured alone), against +1.1 MiB for Date's own local-time getters, which read the same ICU
// time zone (V8's Date and Intl agree on the default zone: both ask ICU).
//
// So for exactly node-cron's two option shapes with no timeZone, this answers from Date's local
// getters with the parts node-cron reads (en-US order, literals included); any other locale,
// shape or an explicit timeZone gets the real Intl.DateTimeFormat. Only formatToParts is offered:
// it is all node-cron calls (the build checks node-cron's source for the two constructions).
// test/integration/build/node-cron-local-time.test.ts compares it with Intl across time zones, and
// node-cron's next matches with and without it.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const PARTS_SHAPE = ['day', 'hour', 'hour12', 'minute', 'month', 'second', 'weekday', 'year'];
const OFFSET_SHAPE = ['timeZone', 'timeZoneName'];

const two = (n) => String(n).padStart(2, '0');

/** 'parts', 'offset', or undefined when the real Intl.DateTimeFormat must answer. */
function shapeOf(locale, options) {
  if (locale !== 'en-US' || options === null || typeof options !== 'object' || options.timeZone !== undefined) return undefined;
  const keys = Object.keys(options).sort();
  if (
    keys.join() === PARTS_SHAPE.join() &&
    options.year === 'numeric' &&
    options.weekday === 'short' &&
    options.hour12 === false &&
    ['month', 'day', 'hour', 'minute', 'second'].every((k) => options[k] === '2-digit')
  ) {
    return 'parts';
  }
  if ((keys.join() === OFFSET_SHAPE.join() || keys.join() === 'timeZoneName') && options.timeZoneName === 'shortOffset') return 'offset';
  return undefined;
}

/** `GMT`, `GMT+1`, `GMT-3:30`, as en-US shortOffset writes the zone's offset at that instant. */
function shortOffset(date) {
  const east = -date.getTimezoneOffset();
  if (east === 0) return 'GMT';
  const abs = Math.abs(east);
  const hours = Math.floor(abs / 60);
  const minutes = abs % 60;
  return `GMT${east < 0 ? '-' : '+'}${hours}${minutes === 0 ? '' : `:${two(minutes)}`}`;
}

export class DateTimeFormat {
  #shape;
  constructor(locale, options) {
    const shape = shapeOf(locale, options);
    // A constructor that returns an object yields that object: the real formatter, untouched.
    if (shape === undefined) return new Intl.DateTimeFormat(locale, options);
    this.#shape = shape;
  }

  formatToParts(date = new Date()) {
    const d = date instanceof Date ? date : new Date(date);
    if (Number.isNaN(d.getTime())) throw new RangeError('Invalid time value');
    if (this.#shape === 'offset') {
      return [
        { type: 'month', value: String(d.getMonth() + 1) },
        { type: 'literal', value: '/' },
        { type: 'day', value: String(d.getDate()) },
        { type: 'literal', value: '/' },
        { type: 'year', value: String(d.getFullYear()) },
        { type: 'literal', value: ', ' },
        { type: 'timeZoneName', value: shortOffset(d) },
      ];
    }
    return [
      { type: 'weekday', value: WEEKDAYS[d.getDay()] },
      { type: 'literal', value: ', ' },
      { type: 'month', value: two(d.getMonth() + 1) },
      { type: 'literal', value: '/' },
      { type: 'day', value: two(d.getDate()) },
      { type: 'literal', value: '/' },
      { type: 'year', value: String(d.getFullYear()) },
      { type: 'literal', value: ', ' },
      { type: 'hour', value: two(d.getHours()) },
      { type: 'literal', value: ':' },
      { type: 'minute', value: two(d.getMinutes()) },
      { type: 'literal', value: ':' },
      { type: 'second', value: two(d.getSeconds()) },
    ];
  }
}
