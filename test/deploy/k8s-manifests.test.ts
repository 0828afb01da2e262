/* eslint-disable @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call -- walks parsed YAML (Obj) dynamically; kubernetes-models validates the shapes */
// k8s-style-manifests/: every object validates with kubernetes-models (the Kubernetes OpenAPI
// schemas); PodMonitor and PrometheusRule (CRDs it does not model) against small schemas of
// their own; then what the schemas cannot say: the sidecar's env is accepted by config/, node
// and task identity come from the downward API, the propagation and privilege rules hold, the
// Redis secret agrees with itself, selectors match the pods they are meant for, and the
// PrometheusRule / dashboard ConfigMap are the rendered deploy/ sources.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { MOUNT_ROOT, REPO, checkSidecarEnv, filesIn, readText } from './deploy-checks.js';

const execFileAsync = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML
type Obj = Record<string, any>;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

const ajv = new Ajv({ strict: false, allErrors: true });
const labelMap = { type: 'object', additionalProperties: { type: 'string' } };
const metadata = {
  type: 'object',
  required: ['name', 'namespace'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }, namespace: { type: 'string' }, labels: labelMap, annotations: labelMap },
};
const duration = { type: 'string', pattern: '^([0-9]+(ms|s|m|h|d|w|y))+$' };
/** The fields of monitoring.coreos.com/v1 PodMonitor this project uses, closed against typos. */
const podMonitorSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' },
    kind: { const: 'PodMonitor' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['selector', 'podMetricsEndpoints'],
      properties: {
        jobLabel: { type: 'string' },
        namespaceSelector: { type: 'object' },
        selector: { type: 'object', additionalProperties: false, properties: { matchLabels: labelMap, matchExpressions: { type: 'array' } } },
        podMetricsEndpoints: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['port'],
            properties: { port: { type: 'string' }, path: { type: 'string', pattern: '^/' }, interval: duration, scrapeTimeout: duration, scheme: { enum: ['http', 'https'] }, honorLabels: { type: 'boolean' } },
          },
        },
      },
    },
  },
};
const rule = {
  type: 'object',
  additionalProperties: false,
  required: ['expr'],
  oneOf: [{ required: ['record'] }, { required: ['alert'] }],
  properties: { record: { type: 'string' }, alert: { type: 'string' }, expr: { type: 'string', minLength: 1 }, for: duration, labels: labelMap, annotations: labelMap },
};
const prometheusRuleSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' },
    kind: { const: 'PrometheusRule' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['groups'],
      properties: {
        groups: {
          type: 'array',
          minItems: 1,
          items: { type: 'object', additionalProperties: false, required: ['name', 'rules'], properties: { name: { type: 'string' }, interval: duration, rules: { type: 'array', minItems: 1, items: rule } } },
        },
      },
    },
  },
};
const CRDS: Record<string, ReturnType<typeof ajv.compile>> = {
  'monitoring.coreos.com/v1/PodMonitor': ajv.compile(podMonitorSchema),
  'monitoring.coreos.com/v1/PrometheusRule': ajv.compile(prometheusRuleSchema),
};

/**
 * kubernetes-models does not reject unknown fields; the property names its compiled validator
 * checks for a type are the fields that type has, so a misspelt key is caught here.
 */
function knownKeys(schema: string): Set<string> {
  const source = readFileSync(join(REPO, 'node_modules/kubernetes-models/_schemas', `${schema}.mjs`), 'utf8');
  return new Set([...source.matchAll(/data\.([A-Za-z]+)/g)].map((m) => m[1]!).filter((k) => k !== 'length'));
}
const CLOSED: Array<[string, (spec: Obj) => Obj[]]> = [
  ['IoK8sApiCoreV1PodSpec', (spec) => [spec]],
  ['IoK8sApiCoreV1Container', (spec) => containers(spec)],
  ['IoK8sApiCoreV1VolumeMount', (spec) => containers(spec).flatMap((c) => c.volumeMounts ?? [])],
  ['IoK8sApiCoreV1EnvVar', (spec) => containers(spec).flatMap((c) => c.env ?? [])],
  ['IoK8sApiCoreV1Probe', (spec) => containers(spec).flatMap((c) => [c.startupProbe, c.readinessProbe, c.livenessProbe].filter(Boolean))],
  ['IoK8sApiCoreV1SecurityContext', (spec) => containers(spec).flatMap((c) => (c.securityContext ? [c.securityContext] : []))],
  ['IoK8sApiCoreV1Volume', (spec) => spec.volumes ?? []],
];

function containers(spec: Obj): Obj[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

interface Doc {
  file: string;
  object: Obj;
}

const docs: Doc[] = filesIn('k8s-style-manifests', '.yaml').flatMap((file) =>
  parseAllDocuments(readText(file)).map((d) => {
    if (d.errors.length > 0) throw new Error(`${basename(file)}: ${d.errors[0]!.message}`);
    return { file: basename(file), object: d.toJS() as Obj };
  }).filter((d) => d.object !== null),
);
const kindOf = (o: Obj) => `${o.apiVersion as string}/${o.kind as string}`;
const workloads = docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.object.kind as string));
const find = (kind: string, name: string) => docs.find((d) => d.object.kind === kind && d.object.metadata?.name === name)?.object;

/** Pod templates whose init containers include the dvdi sidecar (native sidecar). */
function sidecarOf(spec: Obj): Obj | undefined {
  return (spec.initContainers ?? []).find((c: Obj) => /dvdi-sidecar/.test(c.image as string));
}

/** The sidecar's env as the sidecar will see it: literal values and resolved Secret keys. */
function resolveEnv(namespace: string, container: Obj): { env: Record<string, string>; fieldRefs: Record<string, string> } {
  const env: Record<string, string> = {};
  const fieldRefs: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) fieldRefs[e.name] = e.valueFrom.fieldRef.fieldPath;
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = find('Secret', ref.name);
      if (!secret || secret.metadata.namespace !== namespace) throw new Error(`${e.name}: Secret ${ref.name} is not among the manifests (namespace ${namespace})`);
      const value = secret.stringData?.[ref.key] ?? (secret.data?.[ref.key] ? Buffer.from(secret.data[ref.key], 'base64').toString() : undefined);
      if (value === undefined) throw new Error(`${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      env[e.name] = value;
    } else throw new Error(`${e.name}: unsupported valueFrom ${JSON.stringify(e.valueFrom)}`);
  }
  return { env, fieldRefs };
}

test('the manifests hold the objects the README describes', (t) => {
  t.deepEqual(docs.map((d) => `${d.file}:${d.object.kind as string}/${d.object.metadata.name as string}`).sort(), [
    '00-namespace.yaml:Namespace/dvdi-demo',
    'grafana-dashboard.yaml:ConfigMap/dvdi-sidecar-dashboard',
    'pod-monitor.yaml:PodMonitor/dvdi-sidecar',
    'postgres.yaml:Secret/pgdemo',
    'postgres.yaml:Service/pgdemo',
    'postgres.yaml:StatefulSet/pgdemo',
    'prometheus-rule.yaml:PrometheusRule/dvdi-sidecar',
    'redis.yaml:Deployment/dvdi-redis',
    'redis.yaml:NetworkPolicy/dvdi-redis-from-sidecars',
    'redis.yaml:Secret/dvdi-redis',
    'redis.yaml:Service/dvdi-redis',
  ]);
});

for (const { file, object } of docs) {
  test(`${file} ${object.kind as string}/${object.metadata?.name as string} validates`, (t) => {
    const crd = CRDS[kindOf(object)];
    if (crd) {
      t.true(crd(object), JSON.stringify(crd.errors));
      return;
    }
    const Model = MODELS[kindOf(object)];
    if (!Model) return t.fail(`no model for ${kindOf(object)}`);
    t.notThrows(() => new Model(object as never).validate());
    if (object.metadata.namespace !== undefined) t.is(object.metadata.namespace, 'dvdi-demo');
    const spec = object.spec?.template?.spec as Obj | undefined;
    if (!spec) return;
    for (const [schema, pick] of CLOSED) {
      const known = knownKeys(schema);
      for (const value of pick(spec)) for (const key of Object.keys(value)) t.true(known.has(key), `${schema} has no field ${key}`);
    }
    // Kubernetes' own rule (the API server rejects it): Bidirectional only when privileged.
    for (const c of containers(spec)) {
      for (const m of c.volumeMounts ?? []) if (m.mountPropagation === 'Bidirectional') t.true(c.securityContext?.privileged, `${c.name as string}: Bidirectional needs privileged`);
    }
  });
}

test('the validation catches a broken manifest (a test that can fail)', (t) => {
  const sts = structuredClone(find('StatefulSet', 'pgdemo')!);
  sts.spec.template.spec.initContainers[0].ports[0].containerPort = 'http';
  t.throws(() => new StatefulSet(sts as never).validate(), { message: /containerPort/ });
  t.false(knownKeys('IoK8sApiCoreV1VolumeMount').has('mountPropogation'));
  t.false(CRDS['monitoring.coreos.com/v1/PodMonitor']!({ ...find('PodMonitor', 'dvdi-sidecar'), spec: { selector: {}, podMetricsEndpoints: [{ port: 'x', intervall: '5s' }] } }));
});

test('the workload runs dvdi-sidecar as a native sidecar that gates the app on /readyz', (t) => {
  t.true(workloads.some((w) => sidecarOf(w.object.spec.template.spec)), 'some workload has the sidecar');
  for (const { object } of workloads) {
    const spec = object.spec.template.spec as Obj;
    const sidecar = sidecarOf(spec);
    if (!sidecar) continue;
    t.is(sidecar.restartPolicy, 'Always');
    const port = (sidecar.ports as Obj[]).find((p) => p.containerPort === 9650);
    t.truthy(port);
    t.deepEqual(sidecar.startupProbe.httpGet, { path: '/readyz', port: port!.name });
    t.is(sidecar.livenessProbe.httpGet.path, '/livez');
    t.true(sidecar.securityContext.privileged);

    const { env, fieldRefs } = resolveEnv(object.metadata.namespace, sidecar);
    t.deepEqual(fieldRefs, { DVDI_NODE_ID: 'spec.nodeName', DVDI_TASK_ID: 'metadata.uid' });
    // Downward-API values cannot be checked by value; stand-ins of their form can.
    const { config, requests } = checkSidecarEnv({ ...env, DVDI_NODE_ID: 'node-1.example', DVDI_TASK_ID: '0d6c9b6e-7f0e-4a55-9d0c-6a9c1f1f2b3a' });
    t.is(config.mountRoot, MOUNT_ROOT);
    t.is(config.storeBackend, 'redis');
    t.true(requests.specs.length > 0);
    t.is(config.httpAddr.port, 9650);

    const hostPathOf = (name: string): string | undefined => (spec.volumes as Obj[]).find((v) => v.name === name)?.hostPath?.path;
    const rootMount = (sidecar.volumeMounts as Obj[]).find((m) => hostPathOf(m.name) === config.mountRoot);
    t.like(rootMount, { mountPath: config.mountRoot, mountPropagation: 'Bidirectional' });
    t.true((sidecar.volumeMounts as Obj[]).some((m) => config.pluginDirs.includes(m.mountPath) && hostPathOf(m.name) === m.mountPath), 'the plugin socket directory is mounted');

    for (const app of spec.containers as Obj[]) {
      for (const m of app.volumeMounts ?? []) {
        const host = hostPathOf(m.name);
        if (host === undefined || !(host === config.mountRoot || host.startsWith(`${config.mountRoot}/`))) continue;
        t.is(m.mountPropagation, 'HostToContainer', `${app.name as string} mounts ${host} HostToContainer`);
        t.is(m.subPath, undefined, 'no subPath on propagated mounts');
        const volume = host.slice(config.mountRoot.length + 1);
        t.true(volume === '' || requests.specs.some((s) => s.name === volume), `${host} is a requested volume`);
        const spec0 = requests.specs.find((s) => s.name === volume);
        if (spec0?.containerPath) t.is(spec0.containerPath, m.mountPath, 'DVDI_VOLUME_CONTAINERPATH says where the app sees it');
      }
    }
  }
});

test('Redis: the URL the sidecars use carries the password Redis requires and names its Service', (t) => {
  const secret = find('Secret', 'dvdi-redis')!;
  const url = new URL(secret.stringData.url as string);
  const requirepass = /^requirepass (\S+)$/m.exec(secret.stringData['redis.conf'] as string)?.[1];
  t.is(decodeURIComponent(url.password), requirepass ?? 'no requirepass line');
  const service = find('Service', 'dvdi-redis')!;
  t.is(url.hostname, `${service.metadata.name as string}.${service.metadata.namespace as string}.svc`);
  t.is(Number(url.port), service.spec.ports[0].port);
});

test('the NetworkPolicy admits exactly the sidecar pods to Redis, and the PodMonitor scrapes them', (t) => {
  const policy = find('NetworkPolicy', 'dvdi-redis-from-sidecars')!;
  const redis = find('Deployment', 'dvdi-redis')!;
  const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  t.true(matches(policy.spec.podSelector.matchLabels, redis.spec.template.metadata.labels));
  t.deepEqual(policy.spec.ingress[0].ports, [{ protocol: 'TCP', port: 6379 }]);
  const from = policy.spec.ingress[0].from[0].podSelector.matchLabels as Obj;
  const monitor = find('PodMonitor', 'dvdi-sidecar')!;
  for (const { object } of workloads) {
    const labels = object.spec.template.metadata.labels as Obj;
    const hasSidecar = sidecarOf(object.spec.template.spec) !== undefined;
    t.is(matches(from, labels), hasSidecar, `${object.metadata.name as string}: admitted to Redis iff it has a sidecar`);
    t.is(matches(monitor.spec.selector.matchLabels, labels), hasSidecar);
    if (hasSidecar) t.true((sidecarOf(object.spec.template.spec)!.ports as Obj[]).some((p) => p.name === monitor.spec.podMetricsEndpoints[0].port));
  }
});

test('the PrometheusRule and dashboard ConfigMap are rendered from deploy/ and up to date', async (t) => {
  await t.notThrowsAsync(execFileAsync(process.execPath, [join(REPO, 'deploy/render-k8s.mjs'), '--check']));
  const rule = find('PrometheusRule', 'dvdi-sidecar')!;
  const { parse } = await import('yaml');
  t.deepEqual(rule.spec.groups, (parse(readText(join(REPO, 'deploy/prometheus/dvdi-rules.yml'))) as Obj).groups);
  const dashboard = find('ConfigMap', 'dvdi-sidecar-dashboard')!;
  t.deepEqual(JSON.parse(dashboard.data['dvdi-dashboard.json'] as string), JSON.parse(readText(join(REPO, 'deploy/grafana/dvdi-dashboard.json'))));
});
