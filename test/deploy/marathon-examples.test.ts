// marathon-examples/: each file validates against the types Marathon itself published (RAML
// vendored in fixtures/marathon-api, converted with ramldt2jsonschema, checked with ajv), plus the
// semantic checks RAML cannot express: the sidecar's environment is accepted by config/, the
// mount root is shared with the host at DVDI_MOUNT_ROOT, the app waits for readiness.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { dt2js } from 'ramldt2jsonschema';
import { MOUNT_ROOT, REPO, checkSidecarEnv, filesIn, marathonLabelEnv, readText, type CheckedEnv } from './deploy-checks.js';

// Marathon's published API types, vendored with their license (fixtures/marathon-api/NOTICE.md).
const typesDir = join(REPO, 'test/deploy/fixtures/marathon-api/types');

type Json = Record<string, unknown>;
interface AppJson extends Json {
  id: string;
  cmd?: string;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  container?: { type: string; docker?: { image: string; parameters?: Array<{ key: string; value: string }> }; volumes?: Array<{ hostPath?: string; containerPath: string }> };
}
interface PodContainer {
  name: string;
  exec?: { command: { shell?: string; argv?: string[] } };
  environment?: Record<string, string>;
  labels?: Record<string, string>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodJson extends Json {
  id: string;
  environment?: Record<string, string>;
  labels?: Record<string, string>;
  volumes?: Array<{ name: string; host?: string }>;
  containers: PodContainer[];
}

const validators = new Map<string, Promise<ValidateFunction>>();
function validator(file: string, type: string): Promise<ValidateFunction> {
  const key = `${file}#${type}`;
  let v = validators.get(key);
  if (!v) {
    v = (async () => {
      const schema = await dt2js(readFileSync(`${typesDir}/${file}`, 'utf8'), type, { basePath: typesDir });
      return new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
    })();
    validators.set(key, v);
  }
  return v;
}

async function validate(file: string, type: string, value: unknown): Promise<void> {
  const v = await validator(file, type);
  if (!v(value)) throw new Error(`not a valid Marathon ${type}: ${JSON.stringify(v.errors, null, 1)}`);
}

function json<T>(path: string): T {
  return JSON.parse(readText(path)) as T;
}

/** Docker labels an app gives its container through `--label K=V` parameters. */
function dockerLabels(app: AppJson): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const p of app.container?.docker?.parameters ?? []) {
    if (p.key !== 'label') continue;
    const i = p.value.indexOf('=');
    labels[p.value.slice(0, i)] = p.value.slice(i + 1);
  }
  return labels;
}

/** The app-with-sidecar-inside pattern: Docker containerizer, root shared with the host. */
function checkDockerApp(app: AppJson): CheckedEnv {
  const params = app.container?.docker?.parameters ?? [];
  const param = (key: string): string[] => params.filter((p) => p.key === key).map((p) => p.value);
  const usesContainerLabels = (app.cmd ?? '').includes('DVDI_TASK_CONTAINER=');
  const env = { ...marathonLabelEnv(app.labels), ...app.env, ...(usesContainerLabels ? { DVDI_TASK_CONTAINER: 'mesos-example' } : {}) };
  const checked = checkSidecarEnv(env, usesContainerLabels ? dockerLabels(app) : {});
  const root = checked.config.mountRoot;
  if (root !== MOUNT_ROOT) throw new Error(`${app.id}: DVDI_MOUNT_ROOT ${root} is not ${MOUNT_ROOT}`);
  if (!param('volume').includes(`${root}:${root}:rshared`)) throw new Error(`${app.id}: no "volume" parameter ${root}:${root}:rshared`);
  if (!param('cap-add').includes('SYS_ADMIN')) throw new Error(`${app.id}: the sidecar needs cap-add SYS_ADMIN`);
  if (param('privileged').length > 0) throw new Error(`${app.id}: use cap-add SYS_ADMIN, not privileged`);
  for (const v of app.container?.volumes ?? []) {
    if (v.hostPath?.startsWith(root) && v.hostPath !== v.containerPath) throw new Error(`${app.id}: ${v.hostPath} must appear at the same path`);
  }
  const cmd = app.cmd ?? '';
  if (!cmd.includes('dvdi sidecar') || !/dvdi wait [^&]*-- /.test(cmd)) throw new Error(`${app.id}: cmd must run dvdi sidecar and the work under dvdi wait`);
  if (checked.requests.specs.length === 0) throw new Error(`${app.id}: requests no volume`);
  for (const spec of checked.requests.specs) {
    if (!cmd.includes(`${root}/${spec.name}`)) throw new Error(`${app.id}: the work never uses ${root}/${spec.name}`);
  }
  return checked;
}

function checkPod(pod: PodJson): CheckedEnv {
  const sidecar = pod.containers.find((c) => /\bdvdi sidecar\b/.test(c.exec?.command.shell ?? c.exec?.command.argv?.join(' ') ?? ''));
  if (!sidecar) throw new Error(`${pod.id}: no container runs dvdi sidecar`);
  const shell = sidecar.exec?.command.shell ?? '';
  // Assignments in front of `exec dvdi sidecar`, with Marathon's ENDPOINT_* filled in.
  const assigned = Object.fromEntries([...shell.matchAll(/\b(DVDI_[A-Z_0-9]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/\$ENDPOINT_[A-Z_]+/g, '31000')]));
  // Pods merge pod env, container env and (pod + container) labels into each container's env.
  const env = { ...pod.environment, ...sidecar.environment, ...marathonLabelEnv({ ...pod.labels, ...sidecar.labels }), ...assigned };
  const checked = checkSidecarEnv(env);
  const root = checked.config.mountRoot;
  if (root !== MOUNT_ROOT) throw new Error(`${pod.id}: DVDI_MOUNT_ROOT ${root} is not ${MOUNT_ROOT}`);
  const hostOf = (name: string): string | undefined => pod.volumes?.find((v) => v.name === name)?.host;
  const rootMount = (c: PodContainer) => c.volumeMounts?.find((m) => hostOf(m.name) === root);
  const sidecarRoot = rootMount(sidecar);
  if (!sidecarRoot || sidecarRoot.mountPath !== root) throw new Error(`${pod.id}: the sidecar must mount host ${root} at ${root}`);
  if (checked.requests.specs.length === 0) throw new Error(`${pod.id}: requests no volume`);
  const apps = pod.containers.filter((c) => c !== sidecar);
  if (apps.length === 0) throw new Error(`${pod.id}: no app container`);
  for (const app of apps) {
    // An app that mounts the whole root could race the sidecar's binds and read every volume.
    if (rootMount(app)) throw new Error(`${pod.id}/${app.name}: mounts the whole mount root ${root}; mount only ${root}/<volume>`);
    const cmd = app.exec?.command.shell ?? '';
    // Pods start their containers together: the app waits for /readyz or the ready file.
    const readyFile = checked.config.readyFile;
    const waits = /dvdi wait .*-- /.test(cmd) || (readyFile !== undefined && cmd.includes(`until [ -e ${readyFile} ]`));
    if (!waits) throw new Error(`${pod.id}/${app.name}: must start through dvdi wait or wait for DVDI_READY_FILE`);
    if (readyFile !== undefined) {
      const shared = (c: PodContainer) => c.volumeMounts?.find((m) => readyFile.startsWith(`${m.mountPath}/`) && pod.volumes?.some((v) => v.name === m.name && v.host === undefined));
      if (!shared(sidecar) || shared(sidecar)?.name !== shared(app)?.name) throw new Error(`${pod.id}: ${readyFile} is not on an ephemeral volume both containers mount`);
    }
    const uses = Object.values(app.environment ?? {}).join(' ') + cmd;
    for (const spec of checked.requests.specs) {
      const mount = app.volumeMounts?.find((m) => hostOf(m.name) === `${root}/${spec.name}`);
      if (!mount) throw new Error(`${pod.id}/${app.name}: does not mount ${root}/${spec.name}`);
      if (!uses.includes(mount.mountPath)) throw new Error(`${pod.id}/${app.name}: never uses ${mount.mountPath}`);
    }
  }
  return checked;
}

test('the RAML conversion accepts Marathon\'s own examples and rejects a broken app', async (t) => {
  await validate('app.raml', 'App', json(`${typesDir}/../examples/app.json`));
  await validate('pod.raml', 'Pod', json(`${typesDir}/../examples/pod.json`));
  const broken = json<AppJson>(`${typesDir}/../examples/app.json`);
  (broken as Json).instances = 'two';
  await t.throwsAsync(validate('app.raml', 'App', broken), { message: /instances/ });
});

const files = filesIn('marathon-examples', '.json');

test('every example is an app, a group or a pod', (t) => {
  t.deepEqual(files.map((f) => basename(f)), ['docker-app-labels.json', 'etl-pipeline.json', 'hello-play.json', 'postgres-pod.json', 'sidecar-pod.json']);
});

for (const file of files) {
  test(`${basename(file)} is valid for Marathon and for the sidecar`, async (t) => {
    const value = json<Json>(file);
    if (Array.isArray(value.containers)) {
      await validate('pod.raml', 'Pod', value);
      const checked = checkPod(value as PodJson);
      t.true(checked.requests.specs.length > 0);
    } else if (Array.isArray(value.apps)) {
      await validate('group.raml', 'GroupUpdate', value);
      for (const app of value.apps as AppJson[]) {
        await validate('app.raml', 'App', app);
        t.true(app.id.startsWith(`${value.id as string}/`), `${app.id} is inside the group`);
        checkDockerApp(app);
      }
    } else {
      await validate('app.raml', 'App', value);
      t.true(checkDockerApp(value as AppJson).requests.specs.length > 0);
    }
  });
}

test('the semantic checks catch a wrong mount root, an unknown variable and a pod app that does not wait', (t) => {
  const hello = json<AppJson>(files.find((f) => f.endsWith('hello-play.json'))!);
  t.throws(() => checkDockerApp({ ...hello, env: { ...hello.env, DVDI_MOUNT_ROOT: '/mnt/other' } }), { message: /is not \/var\/lib\/dvdi\/volumes/ });
  t.throws(() => checkDockerApp({ ...hello, env: { ...hello.env, DVDI_VOLUME_NAMES: 'x' } }), { message: /DVDI_VOLUME_NAMES/ });
  t.throws(() => checkDockerApp({ ...hello, env: { ...hello.env, DVDI_VOLUME_ACCESS: 'many' } }), { message: /DVDI_VOLUME_ACCESS/ });
  const pod = json<PodJson>(files.find((f) => f.endsWith('sidecar-pod.json'))!);
  const app = pod.containers[1]!;
  t.throws(() => checkPod({ ...pod, containers: [pod.containers[0]!, { ...app, exec: { command: { shell: 'exec my-app' } } }] }), { message: /dvdi wait/ });
  // Apps mount only ROOT/<volume>: the whole root would let them race the binds and read every volume.
  t.throws(() => checkPod({ ...pod, containers: [pod.containers[0]!, { ...app, volumeMounts: [{ name: 'dvdi-root', mountPath: MOUNT_ROOT }] }] }), { message: /mounts the whole mount root/ });
  for (const podFile of files.filter((f) => f.endsWith('-pod.json'))) t.notThrows(() => checkPod(json<PodJson>(podFile)), podFile);
});

test('the ETL transform stage reads from several nodes, so its volumes are shared', (t) => {
  const group = json<{ apps: AppJson[] }>(files.find((f) => f.endsWith('etl-pipeline.json'))!);
  const transform = group.apps.find((a) => a.id === '/etl/transform')!;
  const { requests } = checkDockerApp(transform);
  t.true((transform as Json).instances as number > 1);
  t.deepEqual(requests.specs.map((s) => [s.name, s.access]), [['etl-raw', 'shared'], ['etl-clean', 'shared']]);
});
