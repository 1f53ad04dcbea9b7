/**
 * deploy-k8s.ts against a FAKE kubectl (test/k8s/fake-kubectl/kubectl).
 * No Kubernetes API server can run on these machines, so these tests prove
 * what the script asks of kubectl (order, arguments, stdin, reaction to
 * failures), not what a real cluster would do with it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waitFor } from '../helpers/net.js';
import { nodeWithTsx, REPO, repoCopy, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { type Call, CONTEXT, calls, EXAMPLE, type FakeRule, fakeKubectlEnv, prodEnvFile, renderBundle, shortArgv } from './support.js';

const DEV_SECRETS = ['dev-postgres-password', 'dev-redis-password', 'dev-secret-key-not-for-production', 'dev-backup-secret-access-key'];

function deploy(dir: string, args: string[], rules: FakeRule[] = [], options: { root?: string; version?: string } = {}) {
  return runScript('deploy-k8s.ts', args, {
    env: fakeKubectlEnv(dir, rules, options.version ?? 'dev'),
    cwd: dir,
    ...(options.root ? { root: options.root } : {}),
  });
}

function devArgs(dir: string, extra: string[] = []): string[] {
  return ['--env', 'dev', '--context', CONTEXT, '--set', `STATE_DIR=${join(dir, 'state')}`, ...extra];
}

const APPLY = 'apply --server-side --field-manager=healthmate-deploy';
const BASE = ['configmap', 'network-policies'];
const DATABASE = ['postgres-cluster'];
const APPS = ['redis', 'deployment', 'workers', 'autoscaling-policies'];
const MONITORING = ['monitoring', 'prometheus-rules'];
const EDGE = ['certificate', 'ingress'];
const FILES = [...BASE, ...DATABASE, ...APPS, ...MONITORING, ...EDGE];
const WORKLOADS = ['statefulset/redis', 'deployment/backend', 'deployment/worker', 'deployment/beat'];
const CRDS = [
  'clusters.postgresql.cnpg.io',
  'scheduledbackups.postgresql.cnpg.io',
  'objectstores.barmancloud.cnpg.io',
  'servicemonitors.monitoring.coreos.com',
  'podmonitors.monitoring.coreos.com',
  'prometheusrules.monitoring.coreos.com',
  'certificates.cert-manager.io',
  'clusterissuers.cert-manager.io',
  'verticalpodautoscalers.autoscaling.k8s.io',
];
const applied = (files: string[]) => files.map((f) => `${APPLY} -f <bundle>/k8s/${f}.yaml`);
const WAIT_CLUSTER = 'wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres --timeout=900s';

const UNLOCK = 'delete lease healthmate-deploy --ignore-not-found';
/** The issue's order: CRDs present → Secrets → Cluster ready → app rollout → monitors/rules → ingress/certificate. */
const EXPECTED_SEQUENCE = [
  `get crd ${CRDS.join(' ')} -o name --ignore-not-found`,
  `${APPLY} -f <bundle>/k8s/namespace.yaml`,
  'create -f -',
  'get deployments -l app.kubernetes.io/part-of=healthmate -o json',
  `${APPLY} --dry-run=server ${FILES.map((f) => `-f <bundle>/k8s/${f}.yaml`).join(' ')}`,
  expect.stringMatching(/^create secret generic healthmate-secrets (--from-file=[a-z.0-9-]+=<bundle>\/secrets\/[a-z0-9_.]+ ){8}--dry-run=client -o yaml$/),
  `${APPLY} -f -`,
  expect.stringMatching(
    /^create secret generic postgres-app-credentials --type=kubernetes.io\/basic-auth --from-literal=username=\S+ --from-file=password=<bundle>\/secrets\/postgres_password --dry-run=client -o yaml$/,
  ),
  `${APPLY} -f -`,
  ...applied(BASE),
  ...applied(DATABASE),
  WAIT_CLUSTER,
  ...applied(APPS),
  ...WORKLOADS.map((w) => `rollout status ${w} --timeout=5m`),
  expect.stringMatching(/^exec deployment\/backend -c backend -- python -c /),
  ...applied(MONITORING),
  ...applied(EDGE),
];

/** Revisions the fake reports for the snapshot: the cluster already runs a release. */
const EXISTING: FakeRule = {
  match: '^--context \\S+ --namespace \\S+ get deployments',
  stdout: JSON.stringify({
    items: [
      { metadata: { name: 'backend', annotations: { 'deployment.kubernetes.io/revision': '7' } } },
      { metadata: { name: 'worker', annotations: { 'deployment.kubernetes.io/revision': '5' } } },
      { metadata: { name: 'beat', annotations: { 'deployment.kubernetes.io/revision': '4' } } },
    ],
  }),
};

function assertNoSecretInArgv(all: Call[], secrets: string[]): void {
  expect(secrets.length).toBeGreaterThan(0);
  for (const call of all) for (const secret of secrets) for (const arg of call.argv) expect(arg).not.toContain(secret);
}

describe('deploy-k8s.ts with a fake kubectl', () => {
  it('runs the whole sequence with an explicit context and namespace, secrets only on stdin', () => {
    const dir = tempDir();
    const result = deploy(dir, devArgs(dir));
    expect(result.code, result.stderr).toBe(0);
    const all = calls(dir);
    expect(all.map(shortArgv)).toEqual([...EXPECTED_SEQUENCE, UNLOCK]);
    for (const call of all) expect(call.argv.slice(0, 4)).toEqual(['--context', CONTEXT, '--namespace', 'healthmate-dev']);
    assertNoSecretInArgv(all, DEV_SECRETS);
    // The lock is a Lease naming who deploys what.
    const lease = JSON.parse(all[2]?.stdin ?? '{}');
    expect(lease).toMatchObject({ kind: 'Lease', metadata: { name: 'healthmate-deploy', namespace: 'healthmate-dev' } });
    expect(lease.spec.holderIdentity).toMatch(/^\S+@\S+ pid \d+ deploying dev$/);
    expect(() => new Lease(lease).validate()).not.toThrow();
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // The Secret manifest reached `kubectl apply -f -` on stdin, base64-encoded like kubectl makes it.
    const secretApply = all[6] as Call;
    expect(secretApply.stdin).toContain('kind: Secret');
    expect(secretApply.stdin).toContain(`backup-s3-secret-access-key: ${Buffer.from('dev-backup-secret-access-key').toString('base64')}`);
    expect(secretApply.stdin).toContain(`redis-auth.conf: ${Buffer.from('requirepass "dev-redis-password"\n').toString('base64')}`);
    // The app URL points at CloudNativePG's read-write Service, the read URL at the replicas.
    const data = (parse(secretApply.stdin ?? '') as { data: Record<string, string> }).data;
    const b64 = (key: string) => Buffer.from(data[key] ?? '', 'base64').toString();
    expect(b64('database-url')).toMatch(/@postgres-rw:5432\//);
    expect(b64('database-read-url')).toMatch(/@postgres-ro:5432\//);
    // CloudNativePG's owner Secret: basic-auth, user name and password.
    const appSecret = all[8] as Call;
    expect(appSecret.stdin).toContain(`password: ${Buffer.from('dev-postgres-password').toString('base64')}`);
    expect(appSecret.stdin).toContain('name: postgres-app-credentials');
    // ...and never reached the terminal.
    for (const secret of DEV_SECRETS) expect(result.stdout + result.stderr).not.toContain(secret);
    expect(result.stderr).not.toContain(Buffer.from('dev-redis-password').toString('base64'));
    expect(result.stderr).toContain('smoke check passed');
  });

  it('prod: a strong env file deploys; URL-escaped secrets stay off every command line', () => {
    const dir = tempDir();
    const { path, secrets } = prodEnvFile(dir);
    const result = deploy(dir, ['--env', 'prod', '--env-file', path, '--context', CONTEXT, '--set', `STATE_DIR=${join(dir, 'state')}`], [], {
      version: '1.0.0',
    });
    expect(result.code, result.stderr).toBe(0);
    const all = calls(dir);
    expect(all.map(shortArgv)).toEqual([...EXPECTED_SEQUENCE, UNLOCK]);
    expect(all[0]?.argv.slice(0, 4)).toEqual(['--context', CONTEXT, '--namespace', 'healthmate']);
    assertNoSecretInArgv(all, [...secrets, ...secrets.map(encodeURIComponent)]);
    for (const secret of secrets) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it('a rollout that times out rolls every Deployment back to its recorded revision and exits 1', () => {
    const dir = tempDir();
    const timeout: FakeRule = { match: 'rollout status deployment/backend', times: 1, exit: 1, stderr: 'error: timed out waiting for the condition\n' };
    const result = deploy(dir, devArgs(dir), [EXISTING, timeout]);
    expect(result.code).toBe(1);
    const sequence = calls(dir).map(shortArgv);
    const failedAt = sequence.indexOf('rollout status deployment/backend --timeout=5m');
    expect(failedAt).toBeGreaterThan(0);
    expect(sequence.slice(0, failedAt + 1)).toEqual(EXPECTED_SEQUENCE.slice(0, failedAt + 1));
    expect(sequence.slice(failedAt + 1)).toEqual([
      'rollout undo deployment/backend --to-revision=7',
      'rollout status deployment/backend --timeout=5m',
      'rollout undo deployment/worker --to-revision=5',
      'rollout status deployment/worker --timeout=5m',
      'rollout undo deployment/beat --to-revision=4',
      'rollout status deployment/beat --timeout=5m',
      UNLOCK,
    ]);
    expect(result.stderr).toContain('timed out waiting for the condition');
    expect(result.stderr).toMatch(/rolled back deployment\/backend to revision 7, deployment\/worker to revision 5, deployment\/beat to revision 4/);
  });

  it('a smoke check reporting another version rolls back too', () => {
    const dir = tempDir();
    const result = deploy(dir, devArgs(dir), [EXISTING], { version: 'old-1.2.3' });
    expect(result.code).toBe(1);
    const sequence = calls(dir).map(shortArgv);
    const smokeAt = sequence.findIndex((s) => s.startsWith('exec deployment/backend'));
    expect(sequence.slice(0, smokeAt + 1)).toEqual(EXPECTED_SEQUENCE.slice(0, smokeAt + 1));
    // Nothing after the smoke check (monitors, certificate, Ingress) is applied; the Deployments roll back.
    expect(sequence.slice(smokeAt + 1).filter((s) => s.startsWith(APPLY))).toEqual([]);
    expect(sequence.slice(smokeAt + 1).filter((s) => s.startsWith('rollout undo'))).toHaveLength(3);
    expect(sequence.at(-1)).toBe(UNLOCK);
    expect(result.stderr).toContain('/version reports old-1.2.3, not dev');
  });

  it('a failed first deploy says there is nothing to roll back to and exits 1', () => {
    const dir = tempDir();
    const result = deploy(dir, devArgs(dir), [{ match: 'rollout status statefulset/redis', exit: 1, stderr: 'error: timed out waiting for the condition\n' }]);
    expect(result.code).toBe(1);
    expect(calls(dir).some((c) => c.argv.includes('undo'))).toBe(false);
    expect(calls(dir).map(shortArgv).at(-1)).toBe(UNLOCK);
    expect(result.stderr).toContain('first deploy, so there is no previous revision');
  });

  it('a cluster without an operator stops before changing anything: one sentence and the install command (exit 1)', () => {
    const dir = tempDir();
    const served = CRDS.filter((c) => !c.endsWith('.cnpg.io')).map((c) => `customresourcedefinition.apiextensions.k8s.io/${c}`);
    const result = deploy(dir, devArgs(dir), [{ match: 'get crd', stdout: `${served.join('\n')}\n` }]);
    expect(result.code).toBe(1);
    expect(calls(dir).map(shortArgv)).toEqual([EXPECTED_SEQUENCE[0]]);
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toEqual([
      'error: the cluster of context test-cluster does not serve clusters.postgresql.cnpg.io, scheduledbackups.postgresql.cnpg.io: install CloudNativePG (>= 1.26) first; nothing was changed.',
    ]);
    expect(result.stderr).toContain(
      'kubectl apply --server-side -f https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-1.27/releases/cnpg-1.27.0.yaml',
    );
  });

  it('a cluster with every operator but cert-manager names cert-manager', () => {
    const dir = tempDir();
    const served = CRDS.filter((c) => !c.endsWith('cert-manager.io')).map((c) => `customresourcedefinition.apiextensions.k8s.io/${c}`);
    const result = deploy(dir, devArgs(dir), [{ match: 'get crd', stdout: `${served.join('\n')}\n` }]);
    expect(result.code).toBe(1);
    expect(calls(dir)).toHaveLength(1);
    expect(result.stderr).toContain('install cert-manager (>= 1.12) first');
    expect(result.stderr).toContain('cert-manager/releases/download/v1.16.2/cert-manager.yaml');
  });

  it('--dry-run refuses a missing operator like the deploy does (exit 1, no diff)', () => {
    const dir = tempDir();
    const served = CRDS.filter((c) => !c.includes('monitoring.coreos.com')).map((c) => `customresourcedefinition.apiextensions.k8s.io/${c}`);
    const result = deploy(dir, devArgs(dir, ['--dry-run']), [{ match: 'get crd', stdout: `${served.join('\n')}\n` }]);
    expect(result.code).toBe(1);
    expect(calls(dir).map(shortArgv)).toEqual([EXPECTED_SEQUENCE[0]]);
    expect(result.stderr).toContain('install the Prometheus Operator first');
    expect(result.stderr).toContain('kube-prometheus-stack');
  });

  it('a PostgreSQL Cluster that never becomes Ready stops before the apps change, rolls back and exits 1', () => {
    const dir = tempDir();
    const notReady: FakeRule = {
      match: 'wait --for=condition=Ready cluster',
      exit: 1,
      stderr: 'error: timed out waiting for the condition on clusters/postgres\n',
    };
    const result = deploy(dir, devArgs(dir), [EXISTING, notReady]);
    expect(result.code).toBe(1);
    const sequence = calls(dir).map(shortArgv);
    const failedAt = sequence.indexOf(WAIT_CLUSTER);
    expect(sequence.slice(0, failedAt + 1)).toEqual(EXPECTED_SEQUENCE.slice(0, failedAt + 1));
    // No app manifest was applied; the Deployments are rolled back to what they were (a no-op for kubectl when unchanged).
    expect(sequence.slice(failedAt + 1).filter((s) => s.startsWith(APPLY))).toEqual([]);
    expect(sequence.slice(failedAt + 1).filter((s) => s.startsWith('rollout undo'))).toHaveLength(3);
    expect(sequence.at(-1)).toBe(UNLOCK);
    expect(result.stderr).toContain('wait for the PostgreSQL Cluster postgres to be Ready');
    expect(result.stderr).toContain('timed out waiting for the condition on clusters/postgres');
  });

  it('a server-side dry run the API server rejects stops before any workload changes (exit 1)', () => {
    const dir = tempDir();
    const reject: FakeRule = { match: '--dry-run=server', exit: 1, stderr: 'Error from server (Forbidden): pods violate PodSecurity "restricted:v1.27"\n' };
    const result = deploy(dir, devArgs(dir), [EXISTING, reject]);
    expect(result.code).toBe(1);
    expect(calls(dir).map(shortArgv)).toEqual([...EXPECTED_SEQUENCE.slice(0, 5), UNLOCK]);
    expect(result.stderr).toContain('PodSecurity');
    expect(result.stderr).toContain('no workload was changed');
  });

  it('a lock held by a running deploy refuses (exit 2) before any change, and is left alone', () => {
    const dir = tempDir();
    const held: FakeRule[] = [
      { match: 'create -f -$', exit: 1, stderr: 'Error from server (AlreadyExists): leases.coordination.k8s.io "healthmate-deploy" already exists\n' },
      {
        match: 'get lease healthmate-deploy',
        stdout: JSON.stringify({
          spec: { holderIdentity: 'alice@ops1 pid 42 deploying 1.2.0', renewTime: new Date().toISOString(), leaseDurationSeconds: 3600 },
        }),
      },
    ];
    const result = deploy(dir, devArgs(dir), held);
    expect(result.code).toBe(2);
    expect(calls(dir).map(shortArgv)).toEqual([...EXPECTED_SEQUENCE.slice(0, 3), 'get lease healthmate-deploy -o json']);
    expect(result.stderr).toContain('another deploy holds the lock on test-cluster/healthmate-dev: alice@ops1 pid 42 deploying 1.2.0.');
  });

  it('a stale lock (past its duration) is replaced with a warning and the deploy proceeds', () => {
    const dir = tempDir();
    const stale: FakeRule[] = [
      {
        match: 'create -f -$',
        times: 1,
        exit: 1,
        stderr: 'Error from server (AlreadyExists): leases.coordination.k8s.io "healthmate-deploy" already exists\n',
      },
      {
        match: 'get lease healthmate-deploy',
        stdout: JSON.stringify({
          spec: { holderIdentity: 'bob@ops2 pid 7 deploying 1.1.0', renewTime: new Date(Date.now() - 7_200_000).toISOString(), leaseDurationSeconds: 600 },
        }),
      },
    ];
    const result = deploy(dir, devArgs(dir), stale);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('replacing the stale deploy lock of bob@ops2 pid 7 deploying 1.1.0');
    const sequence = calls(dir).map(shortArgv);
    expect(sequence.slice(0, 6)).toEqual([...EXPECTED_SEQUENCE.slice(0, 3), 'get lease healthmate-deploy -o json', UNLOCK, 'create -f -']);
    expect(sequence.slice(6)).toEqual([...EXPECTED_SEQUENCE.slice(3), UNLOCK]);
  });

  it('Ctrl-C during a rollout releases the lock before the process dies', async () => {
    const dir = tempDir();
    const env = fakeKubectlEnv(dir, [{ match: 'rollout status statefulset/redis', sleep: 3 }]);
    const [node, ...args] = nodeWithTsx(join(REPO, 'scripts', 'deploy-k8s.ts'), ...devArgs(dir));
    const child = spawn(node, args, {
      env: { ...process.env, ...env },
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = once(child, 'exit');
    await waitFor('the deploy to wait for a rollout', () => calls(dir).some((c) => shortArgv(c).startsWith('rollout status')));
    child.kill('SIGINT');
    const [code, signal] = await exited;
    expect(code === 0).toBe(false);
    expect(signal ?? code).toBeTruthy();
    expect(stderr).toContain('interrupted by SIGINT');
    const sequence = calls(dir).map(shortArgv);
    expect(sequence.at(-1)).toBe(UNLOCK);
    expect(sequence.filter((s) => s.startsWith('rollout status'))).toEqual(['rollout status statefulset/redis --timeout=5m']);
  });

  it('--dry-run prints the plan, diffs against a reachable cluster and changes nothing', () => {
    const dir = tempDir();
    const result = deploy(dir, devArgs(dir, ['--dry-run']));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Kubernetes deploy to context test-cluster, namespace healthmate-dev:');
    expect(result.stdout).toMatch(/kubectl --context test-cluster --namespace healthmate-dev rollout status deployment\/backend --timeout=5m/);
    expect(result.stdout).toContain('| kubectl --context test-cluster --namespace healthmate-dev apply --server-side --field-manager=healthmate-deploy -f -');
    expect(result.stdout).toContain('kubectl --context test-cluster --namespace healthmate-dev create -f - <<< (Lease healthmate-deploy)');
    const sequence = calls(dir).map(shortArgv);
    expect(sequence[0]).toBe(EXPECTED_SEQUENCE[0]);
    expect(sequence.slice(1)).toEqual(['namespace', ...FILES].map((f) => `diff --server-side --field-manager=healthmate-deploy -f <bundle>/k8s/${f}.yaml`));
    expect(result.stdout).toContain('wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres');
    expect(result.stdout).not.toMatch(/statefulset\/postgres/);
    for (const secret of DEV_SECRETS) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it('--dry-run with an unreachable cluster still prints the plan (exit 0)', () => {
    const dir = tempDir();
    const result = deploy(dir, devArgs(dir, ['--dry-run']), [{ match: 'get crd', exit: 1, stderr: 'Unable to connect to the server\n' }]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('smoke check');
    expect(result.stderr).toContain('is not reachable');
    expect(calls(dir)).toHaveLength(1);
  });
});

describe('deploy-k8s.ts bad input: one sentence, exit 2, kubectl never called', () => {
  function expectBadInput(dir: string, result: { code: number; stderr: string }, pattern: RegExp): void {
    expect(result.code, result.stderr).toBe(2);
    expect(calls(dir)).toEqual([]);
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(pattern);
  }

  it('an unknown context', () => {
    const dir = tempDir();
    expectBadInput(dir, deploy(dir, ['--env', 'dev', '--context', 'prod-clsuter']), /context "prod-clsuter" is not in the kubeconfig \(it has test-cluster\)/);
  });

  it('no context named at all: the current context is never used implicitly', () => {
    const dir = tempDir();
    expectBadInput(dir, deploy(dir, ['--env', 'dev']), /no Kubernetes context is named: pass --context/);
  });

  it('a manifest that fails the schema', () => {
    const dir = tempDir();
    const root = repoCopy(join(dir, 'repo'));
    const file = join(root, 'k8s', 'deployment.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('terminationGracePeriodSeconds: 45', 'terminationGracePeriodSeconds: soon'));
    const result = deploy(dir, devArgs(dir), [], { root });
    expectBadInput(
      dir,
      result,
      /k8s\/deployment\.yaml:\d+: Deployment\/backend does not match the Kubernetes 1\.27\.1 schema: spec\.template\.spec\.terminationGracePeriodSeconds must be integer/,
    );
  });

  it('a missing secret in the env file', () => {
    const dir = tempDir();
    const { path } = prodEnvFile(dir, ['K8S_BACKUP_S3_SECRET_ACCESS_KEY']);
    const result = deploy(dir, ['--env', 'prod', '--env-file', path, '--context', CONTEXT, '--set', `STATE_DIR=${join(dir, 'state')}`]);
    expectBadInput(dir, result, /K8S_BACKUP_S3_SECRET_ACCESS_KEY is a required secret and is not set/);
  });

  it('a missing secret file in a rendered --bundle', () => {
    const dir = tempDir();
    const bundle = renderBundle(dir, 'prod');
    rmSync(join(bundle, 'secrets', 'k8s_backup_s3_secret_access_key'));
    const result = deploy(dir, [
      '--env',
      'prod',
      '--env-file',
      EXAMPLE,
      '--context',
      CONTEXT,
      '--bundle',
      bundle,
      '--dry-run',
      '--set',
      `STATE_DIR=${join(dir, 'state')}`,
    ]);
    expectBadInput(
      dir,
      result,
      /secret file .*secrets\/k8s_backup_s3_secret_access_key \(Secret healthmate-secrets key backup-s3-secret-access-key\) is missing/,
    );
  });
});

it('the fake kubectl is the one the tests run (REPO sanity)', () => {
  expect(readFileSync(join(REPO, 'test', 'k8s', 'fake-kubectl', 'kubectl'), 'utf8')).toContain('A FAKE kubectl');
});
