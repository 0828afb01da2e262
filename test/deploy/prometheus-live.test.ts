// A real Prometheus (Debian package) scrapes a real sidecar on loopback with the rules file
// loaded: every dashboard query, recording rule and alert expression is accepted, queries over
// metrics the sidecar exposes return data, no alert fires on a healthy sidecar, and promtool's
// rule checks, rule unit tests and metrics lint pass.
import test from 'ava';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { startNodeRig, type NodeRig, type Sidecar } from '../helpers/node-rig.js';
import { waitFor } from '../helpers/cli.js';
import { REPO, readText } from './deploy-checks.js';

const execFileAsync = promisify(execFile);
const RULES = join(REPO, 'deploy/prometheus/dvdi-rules.yml');
const RULE_TESTS = join(REPO, 'deploy/prometheus/dvdi-rules.test.yml');

interface Rule { record?: string; alert?: string; expr: string }
const rules = (parse(readText(RULES)) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
interface Panel { title: string; targets: Array<{ expr: string }> }
const dashboard = JSON.parse(readText(join(REPO, 'deploy/grafana/dvdi-dashboard.json'))) as { panels: Panel[] };

/** Grafana fills these in; Prometheus itself needs concrete values. */
function grafanaToPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$instance', '.*');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let rig: NodeRig;
let sidecar: Sidecar;
let prometheus: ChildProcess | undefined;
let dir: string;
let promUrl: string;
let metricsText: string;

interface QueryResult { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }
async function query(expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryResult;
}

test.before(async () => {
  rig = await startNodeRig();
  sidecar = await rig.sidecar({ DVDI_VOLUME_NAME: 'promvol', DVDI_LEASE_TTL_MS: '3000', DVDI_RECONCILE_CRON: '*/2 * * * * *', DVDI_LOG_LEVEL: 'info' });
  await sidecar.waitReady();
  dir = await mkdtemp(join(tmpdir(), 'dvdi-prom-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const target = new URL(sidecar.url).host;
  await writeFile(join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${JSON.stringify(RULES)}]`,
    'scrape_configs:',
    '  - job_name: dvdi-sidecar',
    `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
    '',
  ].join('\n'));
  prometheus = spawn('/usr/bin/prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  prometheus.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  await waitFor('prometheus ready', async () => {
    if (prometheus!.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
    try { return (await fetch(`${promUrl}/-/ready`)).ok; } catch { return false; }
  }, 30_000, 200);
  // Enough scrapes for rate() over the panels' windows, and one rule evaluation after them.
  await waitFor('six scrapes of dvdi_ready', async () => Number((await query('count_over_time(dvdi_ready[1m])')).data.result[0]?.value[1] ?? 0) >= 6, 40_000, 250);
  metricsText = await (await fetch(`${sidecar.url}/metrics`)).text();
});

test.after.always(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await rig?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('Prometheus scrapes the sidecar: ready, the volume mounted, the embedded store up', async (t) => {
  const value = async (expr: string) => (await query(expr)).data.result.map((r) => r.value[1]);
  t.deepEqual(await value('dvdi_ready'), ['1']);
  t.deepEqual(await value('dvdi_volume_mounted{volume="promvol"}'), ['1']);
  t.deepEqual(await value('dvdi_store_up{backend="embedded"}'), ['1']);
  t.deepEqual(await value('up{job="dvdi-sidecar"}'), ['1']);
});

/** Metric names (families, without _bucket/_count/_sum) the sidecar exposes samples of. */
function exposedFamilies(): Set<string> {
  const names = new Set<string>();
  for (const line of metricsText.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]!.replace(/_(bucket|count|sum)$/, ''));
  }
  return names;
}

test('every dashboard query is accepted, and returns data when its metrics are exposed', async (t) => {
  const exposed = exposedFamilies();
  let withData = 0;
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const expr = grafanaToPromQL(target.expr);
      const result = await query(expr);
      t.is(result.status, 'success', `${panel.title}: ${expr}: ${result.error ?? ''}`);
      const families = [...expr.matchAll(/\b((?:dvdi|process|nodejs)_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));
      if (families.every((f) => exposed.has(f))) {
        t.true(result.data.result.length > 0, `${panel.title}: ${expr} returned no data though ${families.join(', ')} are exposed`);
        withData += 1;
      }
    }
  }
  t.log(`${withData} panel queries returned data; the others query metrics not yet observed (e.g. unmounts, preemptions)`);
  t.true(withData >= 10);
});

test('every rule is loaded and healthy, and no alert fires on a healthy sidecar', async (t) => {
  for (const rule of rules) {
    const result = await query(rule.expr);
    t.is(result.status, 'success', `${rule.alert ?? rule.record ?? ''}: ${result.error ?? ''}`);
    if (rule.alert) t.deepEqual(result.data.result, [], `${rule.alert} fires on a healthy sidecar`);
  }
  await waitFor('rules evaluated', async () => {
    const body = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ health: string }> }> } };
    const loaded = body.data.groups.flatMap((g) => g.rules);
    return loaded.length === rules.length && loaded.every((r) => r.health === 'ok');
  }, 20_000, 250);
  const mounted = await query('volume:dvdi_volume_mounted:sum');
  t.deepEqual(mounted.data.result.map((r) => [r.metric.volume, r.value[1]]), [['promvol', '1']]);
  t.deepEqual((await query('ALERTS')).data.result, []);
});

test('a query over a metric the contract does not have is caught (the data check can fail)', async (t) => {
  t.deepEqual((await query('dvdi_volume_mounted_total')).data.result, []);
  t.is((await query('sum(rate(dvdi_ready[1m]')).status, 'error');
});

test('promtool check rules and promtool test rules pass', async (t) => {
  const check = await execFileAsync('/usr/bin/promtool', ['check', 'rules', RULES]);
  t.regex(check.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  const unit = await execFileAsync('/usr/bin/promtool', ['test', 'rules', RULE_TESTS]);
  t.regex(unit.stdout, /SUCCESS/);
});

// The whole /metrics page must pass the lint (the sidecar drops prom-client's three gauges
// named `*_total`, which the lint rejects).
test('promtool check metrics accepts the sidecar /metrics page', async (t) => {
  const child = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  child.stdin.end(metricsText);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const complaints = out.split('\n').filter((l) => l.trim() !== '');
  t.deepEqual(complaints, []);
  t.is(code, 0);
  t.true(metricsText.includes('# TYPE dvdi_mount_duration_seconds histogram'), 'the lint saw the dvdi_ metrics');
});
