// One record of comma-separated fields with CSV quoting, as Go's encoding/csv reads it (what
// `docker run --mount` and pflag's string slices use): a field that starts with `"` is quoted —
// commas inside are kept and `""` is one `"` — and must end with `"` right before a comma or
// the end. Shared by DVDI_VOLUME_OPTS (config/) and dvdcli's --volumeopts (cli/). Pure.

export interface CsvOptions {
  /**
   * A `"` inside a field that does not start with one: 'error' as encoding/csv does (dvdcli,
   * whose pflag refuses it), 'literal' to keep it (DVDI_VOLUME_OPTS, where such values were
   * always taken as written and must keep their meaning).
   */
  bareQuote: 'error' | 'literal';
}

export type CsvResult = string[] | { error: string };

/** '' is no field at all; `a,` is two fields, the second empty. Errors never quote the input. */
export function readCsvRecord(raw: string, options: CsvOptions = { bareQuote: 'error' }): CsvResult {
  if (raw === '') return [];
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (raw[i] === '"') {
      const start = fields.length + 1;
      let field = '';
      i++;
      for (;;) {
        if (i >= raw.length) return { error: `field ${start} opens a quote that is never closed` };
        const ch = raw[i];
        if (ch === '"') {
          if (raw[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += ch;
        i++;
      }
      if (i < raw.length && raw[i] !== ',') return { error: `field ${start} has text after its closing quote (write "" for a quote inside a quoted field)` };
      fields.push(field);
    } else {
      const end = raw.indexOf(',', i);
      const field = end < 0 ? raw.slice(i) : raw.slice(i, end);
      if (options.bareQuote === 'error' && field.includes('"')) return { error: `field ${fields.length + 1} has a " but does not start with one (quote the whole field)` };
      fields.push(field);
      i = end < 0 ? raw.length : end;
    }
    if (i >= raw.length) return fields;
    i++; // the comma
    if (i >= raw.length) {
      fields.push('');
      return fields;
    }
  }
}
