// The task's volume requests: DVDI_VOLUME_<KEY>[n] from three sources — the task container's
// Docker labels (lowest), Marathon label variables MARATHON_APP_LABEL_DVDI_VOLUME_… (middle) and
// the explicit environment (highest, per key) — merged per slot, validated, and returned as
// frozen VolumeSpecs that remember where each value came from. Every problem is collected and
// thrown as one ConfigError; option values never appear in a message.
import type { AccessMode } from '../refcount/refcount-store.js';
import { ConfigError, invalidValueMessage, type ConfigProblem } from './config-error.js';
import { quote, REDACTED, redactOptionsText } from './secret-redaction.js';
import { readCsvRecord } from './csv-record.js';
import {
  ACCEPTED_VOLUME_VARIABLES,
  MARATHON_LABEL_PREFIX,
  VOLUME_KEY_RULES,
  VOLUME_VARIABLE_KEYS,
  VOLUME_VARIABLE_PREFIX,
  parseVolumeVariableSuffix,
  type VolumeVariableKey,
} from './settings-table.js';
import type { Env } from './sidecar-config.js';
import { InvalidValue, OPTION_KEY_PATTERN } from './value-rules.js';

export type VolumeSource = 'env' | 'marathon-label' | 'docker-label' | 'default';

export interface ValueOrigin {
  readonly source: VolumeSource;
  /** The variable or label that supplied the value; for defaults, the variable that would. */
  readonly variable: string;
}

export interface VolumeSpec {
  /** 0-9; the unsuffixed variables are slot 0. */
  readonly slot: number;
  readonly name: string;
  readonly driver: string;
  /** Options for the driver's Create. Values are secrets: never log or report them. */
  readonly opts: Readonly<Record<string, string>>;
  readonly explicitCreate: boolean;
  readonly containerPath: string | undefined;
  readonly access: AccessMode;
  readonly preempt: boolean;
  readonly readOnly: boolean;
  /** Where every key's value came from, for /status and error messages. */
  readonly sources: Readonly<Record<VolumeVariableKey, ValueOrigin>>;
}

export interface VolumeRequests {
  /** Ordered by slot. Empty when the task asks for no volume. */
  readonly specs: readonly VolumeSpec[];
  /** Compatibility notes worth a log line (e.g. DVDI_VOLUME_DVDCLI is ignored). */
  readonly warnings: readonly string[];
}

const SOURCE_RANK: Record<Exclude<VolumeSource, 'default'>, number> = { 'docker-label': 0, 'marathon-label': 1, env: 2 };

interface Entry {
  readonly source: Exclude<VolumeSource, 'default'>;
  /** As the operator wrote it: `DVDI_VOLUME_NAME1`, `MARATHON_APP_LABEL_DVDI_VOLUME_NAME1`, `Docker label DVDI_VOLUME_NAME1`. */
  readonly where: string;
  /** The variable or label name itself (no "Docker label" prefix). */
  readonly variable: string;
  readonly key: VolumeVariableKey;
  readonly slot: number;
  readonly suffix: string;
  readonly value: string;
}

function shownValue(key: VolumeVariableKey, value: string): string {
  if (key !== 'OPTS') return value;
  // Read the items the way the rule does (CSV quoting), so a quoted value with commas is
  // redacted whole; when the quoting itself is broken nobody can tell where values end.
  const items = readCsvRecord(value, { bareQuote: 'literal' });
  if (!Array.isArray(items)) return REDACTED;
  return items
    .filter((item) => item.trim() !== '')
    .map((item) => {
      const shown = redactOptionsText(item.replaceAll(',', ' '), (k) => OPTION_KEY_PATTERN.test(k));
      return item.includes(',') ? `"${shown}"` : shown;
    })
    .join(',');
}

/**
 * Names in code-unit order: a stable order for problems and warnings. Not localeCompare: its ICU
 * collator costs ~10 ms and ~3 MiB at every start, for names that are ASCII anyway.
 */
function byName([a]: [string, string], [b]: [string, string]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads the volume requests of a task. `env` is the sidecar's environment (explicit variables
 * and MARATHON_APP_LABEL_* variables); `labels` are the Docker labels of DVDI_TASK_CONTAINER,
 * when there is one. Only the DVDI_VOLUME_* spelling is read from Docker labels, and label
 * names are case-sensitive (`dvdi_volume_name` is an error; a `dvdi/volume-name` style label is
 * not read). Marathon already cleans label keys (runs outside [A-Za-z0-9_] become `_`, then
 * upper case), so a Marathon label `dvdi/volume-name` does arrive as
 * MARATHON_APP_LABEL_DVDI_VOLUME_NAME.
 */
export function loadVolumeRequests(env: Env, labels: Readonly<Record<string, string>> = {}): VolumeRequests {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const entries: Entry[] = [];

  function collect(source: Entry['source'], variable: string, bare: string, value: string, where: string): void {
    const parsed = parseVolumeVariableSuffix(bare.slice(VOLUME_VARIABLE_PREFIX.length));
    if (parsed === undefined) {
      const tooMany = /^[A-Z]+\d{2,}$/.test(bare.slice(VOLUME_VARIABLE_PREFIX.length)) ? ' (a task has at most 10 volume slots)' : '';
      problems.push({ variable, message: `${where} is not a known variable${tooMany}: expected ${ACCEPTED_VOLUME_VARIABLES}` });
      return;
    }
    if (parsed.kind === 'ignored') {
      warnings.push(`${where} is ignored: dvdi-sidecar talks to the volume plugin itself and needs no dvdcli`);
      return;
    }
    // Blank values count as unset (a manifest placeholder), like the sidecar settings.
    if (value.trim() === '') return;
    entries.push({ source, where, variable, key: parsed.key, slot: parsed.slot, suffix: parsed.suffix, value });
  }

  for (const [label, value] of Object.entries(labels).sort(byName)) {
    if (label.startsWith(VOLUME_VARIABLE_PREFIX)) collect('docker-label', label, label, value, `Docker label ${label}`);
    else if (label.toUpperCase().startsWith(VOLUME_VARIABLE_PREFIX)) {
      problems.push({ variable: label, message: `Docker label ${label} is not a known label: label names are case-sensitive; expected ${ACCEPTED_VOLUME_VARIABLES}` });
    }
  }
  const set = Object.entries(env).filter((kv): kv is [string, string] => kv[1] !== undefined).sort(byName);
  for (const [name, value] of set) {
    if (name.startsWith(MARATHON_LABEL_PREFIX + VOLUME_VARIABLE_PREFIX)) {
      collect('marathon-label', name, name.slice(MARATHON_LABEL_PREFIX.length), value, name);
    }
  }
  for (const [name, value] of set) {
    if (name.startsWith(VOLUME_VARIABLE_PREFIX)) collect('env', name, name, value, name);
  }

  // Per source, `X` and `X0` are one slot: equal values are fine, different ones are a mistake.
  // Across sources, the higher source wins per key.
  const chosen = new Map<string, Entry>();
  for (const entry of entries) {
    const id = `${entry.slot}/${entry.key}`;
    const held = chosen.get(id);
    if (held === undefined || SOURCE_RANK[entry.source] > SOURCE_RANK[held.source]) {
      chosen.set(id, entry);
    } else if (held.source === entry.source && held.value !== entry.value) {
      problems.push({
        variable: held.variable,
        message:
          `${held.where}=${quote(shownValue(held.key, held.value))} and ${entry.where}=${quote(shownValue(entry.key, entry.value))} ` +
          `set the same slot (no suffix = suffix 0) to different values: expected one of them, or equal values`,
      });
    }
  }

  const built: BuiltSlot[] = [];
  for (let slot = 0; slot <= 9; slot++) {
    const slotEntries = VOLUME_VARIABLE_KEYS.map((key) => chosen.get(`${slot}/${key}`)).filter((e): e is Entry => e !== undefined);
    if (slotEntries.length === 0) continue;
    const nameEntry = chosen.get(`${slot}/NAME`);
    if (nameEntry === undefined) {
      const first = slotEntries[0] as Entry;
      const suffix = first.suffix;
      problems.push({
        variable: first.variable,
        message: `${slotEntries.map((e) => e.where).join(', ')} ${slotEntries.length === 1 ? 'is' : 'are'} set but DVDI_VOLUME_NAME${suffix} is not: expected a DVDI_VOLUME_NAME${suffix} for the slot (a typo in the slot number?)`,
      });
      continue;
    }
    built.push(buildSlot(slot, nameEntry.suffix, (key) => chosen.get(`${slot}/${key}`), problems));
  }

  // Checked on the name alone, whatever the drivers: every volume appears at ROOT/<name>, so two
  // slots with one name (even on two drivers) would bind two volumes onto one path. Name and
  // driver only, so a slot with another bad key still takes part.
  const seen = new Map<string, BuiltSlot>();
  for (const slot of built) {
    const { NAME: name, DRIVER: driver } = slot.values;
    if (typeof name !== 'string') continue;
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, slot);
      continue;
    }
    const firstDriver = typeof first.values.DRIVER === 'string' ? first.values.DRIVER : '?';
    const drivers = firstDriver === driver ? `driver ${String(driver)}` : `drivers ${firstDriver} and ${typeof driver === 'string' ? driver : '?'}`;
    problems.push({
      variable: first.sources.NAME.variable,
      message:
        `${describeOrigin(first.sources.NAME)}=${quote(name)} and ${describeOrigin(slot.sources.NAME)}=${quote(name)} request the same volume name twice (${drivers}); ` +
        `both would appear at DVDI_MOUNT_ROOT/${name}: expected each volume name once per task`,
    });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  const specs = built.map(toSpec);
  return Object.freeze({ specs: Object.freeze(specs), warnings: Object.freeze(warnings) });
}

function describeOrigin(origin: ValueOrigin): string {
  return origin.source === 'docker-label' ? `Docker label ${origin.variable}` : origin.variable;
}

interface BuiltSlot {
  readonly slot: number;
  readonly values: Partial<Record<VolumeVariableKey, unknown>>;
  readonly sources: Record<VolumeVariableKey, ValueOrigin>;
}

/** Parses every key of one slot; a key that fails is reported and left out of `values`. */
function buildSlot(
  slot: number,
  suffix: string,
  entryOf: (key: VolumeVariableKey) => Entry | undefined,
  problems: ConfigProblem[],
): BuiltSlot {
  const sources = {} as Record<VolumeVariableKey, ValueOrigin>;
  const values: Partial<Record<VolumeVariableKey, unknown>> = {};
  for (const key of VOLUME_VARIABLE_KEYS) {
    const row = VOLUME_KEY_RULES[key];
    const entry = entryOf(key);
    const raw = entry?.value ?? row.default;
    const variable = entry?.variable ?? `${VOLUME_VARIABLE_PREFIX}${key}${suffix}`;
    sources[key] = Object.freeze({ source: entry?.source ?? 'default', variable });
    if (raw === undefined) continue;
    try {
      values[key] = row.rule.parse(raw);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push({ variable, message: invalidValueMessage(entry?.where ?? variable, shownValue(key, raw), row.rule.accepted, error.detail) });
    }
  }
  return { slot, values, sources };
}

/** Only called when no problem was found, so every key with a default has a value. */
function toSpec({ slot, values, sources }: BuiltSlot): VolumeSpec {
  return Object.freeze({
    slot,
    name: values.NAME as string,
    driver: values.DRIVER as string,
    opts: Object.freeze({ ...((values.OPTS as Record<string, string> | undefined) ?? {}) }),
    explicitCreate: values.EXPLICITCREATE as boolean,
    containerPath: values.CONTAINERPATH as string | undefined,
    access: values.ACCESS as AccessMode,
    preempt: values.PREEMPT as boolean,
    readOnly: values.READONLY as boolean,
    sources: Object.freeze(sources),
  });
}
