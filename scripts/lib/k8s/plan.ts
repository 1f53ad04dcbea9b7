import { join } from 'node:path';
import { APPLY_ORDER, APPLY_PHASES, K8S_DIR, type LoadedObject } from './manifests.js';
import { operatorsFor } from './operators.js';
import { DB_APP_SECRET_NAME, dbAppSecretArgs, SECRET_NAME, secretFileArgs } from './secret.js';

export const FIELD_MANAGER = 'healthmate-deploy';
/** The Lease that serialises deploys to one namespace, whoever runs them from wherever. */
export const LOCK_LEASE = 'healthmate-deploy';
export const PART_OF_SELECTOR = 'app.kubernetes.io/part-of=healthmate';

export interface K8sTarget {
  context: string;
  namespace: string;
  /** Rendered bundle (dist/<env>) holding k8s/ and secrets/. */
  bundleDir: string;
  /** kubectl duration for each rollout, e.g. 5m. */
  rolloutTimeout: string;
  /** The version /version must report after the rollout. */
  backendTag: string;
  /** Who deploys, recorded in the lock Lease: user@host pid. */
  holder: string;
  /** Time of the plan, for the Lease. */
  now: Date;
  /** POSTGRES_USER: the owner CloudNativePG creates (the user name is not secret). */
  databaseUser: string;
}

export interface Workload {
  kind: 'deployment' | 'statefulset';
  name: string;
}

export interface Command {
  /** kubectl arguments after the context and namespace flags. */
  args: string[];
  /** Shown in the plan; the step feeds the previous command's output on stdin. */
  stdinFromPrevious?: boolean;
  /** A manifest fed on stdin (never a secret). */
  stdin?: { text: string; label: string };
}

export interface Step {
  id: 'preflight' | 'namespace' | 'lock' | 'snapshot' | 'server-dry-run' | 'secret' | 'apply' | 'database' | 'rollout' | 'smoke';
  title: string;
  commands: Command[];
}

export interface K8sPlan {
  target: K8sTarget;
  /** CRD names the preflight asks for (the operators the manifests need). */
  crds: string[];
  /** Flags every kubectl call starts with: the context and namespace are always explicit. */
  base: string[];
  workloads: Workload[];
  steps: Step[];
}

export function manifestPath(target: K8sTarget, file: string): string {
  return join(target.bundleDir, K8S_DIR, file);
}

/** CloudNativePG Clusters, by name: the deploy waits for each to be Ready. */
export function clustersOf(objects: LoadedObject[]): string[] {
  return objects.filter((o) => o.object.apiVersion === 'postgresql.cnpg.io/v1' && o.object.kind === 'Cluster').map((o) => o.object.metadata?.name ?? '');
}

/** Workloads to wait for, in apply order (the data tier first). */
export function workloadsOf(objects: LoadedObject[]): Workload[] {
  return objects.flatMap((o) => {
    const kind = o.object.kind === 'Deployment' ? 'deployment' : o.object.kind === 'StatefulSet' ? 'statefulset' : undefined;
    return kind && o.object.metadata?.name ? [{ kind, name: o.object.metadata.name } as Workload] : [];
  });
}

/** Python run inside a backend pod: /health must answer 200 and /version name the tag. */
export const SMOKE_SCRIPT = [
  'import json, urllib.request as u',
  "health = u.urlopen('http://127.0.0.1:8000/health', timeout=5).status",
  "version = json.load(u.urlopen('http://127.0.0.1:8000/version', timeout=5)).get('version')",
  "print(json.dumps({'health': health, 'version': version}))",
].join('\n');

function seconds(duration: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(duration);
  return match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'] : 3600;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fraction digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * The lock: a Lease that `kubectl create` makes atomically (AlreadyExists if
 * another deploy holds it). It lasts long enough for every rollout and a
 * rollback, after which a crashed deploy's lease counts as stale.
 */
export function leaseManifest(target: K8sTarget, workloads: number): string {
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: LOCK_LEASE, namespace: target.namespace, labels: { 'app.kubernetes.io/part-of': 'healthmate' } },
    spec: {
      holderIdentity: `${target.holder} deploying ${target.backendTag}`,
      leaseDurationSeconds: seconds(target.rolloutTimeout) * 2 * Math.max(workloads, 1) + 600,
      acquireTime: microTime(target.now),
      renewTime: microTime(target.now),
    },
  };
  return `${JSON.stringify(lease, null, 2)}\n`;
}

export const UNLOCK: Command = { args: ['delete', 'lease', LOCK_LEASE, '--ignore-not-found'] };

/**
 * The deploy as data: the commands --dry-run prints and the deploy runs.
 * Nothing changes before `namespace`: the preflight first proves the
 * operators' CRDs are served. A Lease then locks out concurrent deploys, and
 * the server-side dry run proves every manifest against the real API server
 * (admission, quotas, Pod Security, field ownership) before the first real
 * change. Then, in APPLY_PHASES order: Secrets, settings and network
 * policies; the PostgreSQL Cluster, waited for until Ready; the apps, each
 * rollout waited for and smoke-checked; the monitors and rules; the
 * certificate and the Ingress.
 */
export function buildPlan(target: K8sTarget, objects: LoadedObject[]): K8sPlan {
  const base = ['--context', target.context, '--namespace', target.namespace];
  const apply = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`];
  const rest = APPLY_ORDER.filter((f) => f !== 'namespace.yaml');
  const workloads = workloadsOf(objects);
  const clusters = clustersOf(objects);
  const kinds = objects.map((o) => `${o.object.apiVersion}/${o.object.kind}`);
  const crds = operatorsFor(kinds).flatMap((o) => o.crds);
  const applyFiles = (files: readonly string[]): Step[] =>
    files.map((file) => ({ id: 'apply', title: `apply ${file}`, commands: [{ args: [...apply, '-f', manifestPath(target, file)] }] }));
  // A first bootstrap clones each replica from the primary: allow one rollout timeout per instance.
  const clusterTimeout = `${seconds(target.rolloutTimeout) * 3}s`;
  const steps: Step[] = [
    {
      id: 'preflight',
      title: `check the cluster answers and serves the operators' CRDs (${crds.length})`,
      commands: [{ args: ['get', 'crd', ...crds, '-o', 'name', '--ignore-not-found'] }],
    },
    {
      id: 'namespace',
      title: 'create or update the namespace',
      commands: [{ args: [...apply, '-f', manifestPath(target, 'namespace.yaml')] }],
    },
    {
      id: 'lock',
      title: `take the deploy lock (Lease ${LOCK_LEASE}; released on every exit path)`,
      commands: [{ args: ['create', '-f', '-'], stdin: { text: leaseManifest(target, workloads.length + clusters.length * 3), label: `Lease ${LOCK_LEASE}` } }],
    },
    {
      id: 'snapshot',
      title: 'record the current Deployment revisions (the rollback targets)',
      commands: [{ args: ['get', 'deployments', '-l', PART_OF_SELECTOR, '-o', 'json'] }],
    },
    {
      id: 'server-dry-run',
      title: 'validate every manifest on the API server without changing anything',
      commands: [{ args: [...apply, '--dry-run=server', ...rest.flatMap((f) => ['-f', manifestPath(target, f)])] }],
    },
    {
      id: 'secret',
      title: `create or update Secret ${SECRET_NAME} from ${join(target.bundleDir, 'secrets')} (values only on stdin)`,
      commands: [
        { args: ['create', 'secret', 'generic', SECRET_NAME, ...secretFileArgs(target.bundleDir), '--dry-run=client', '-o', 'yaml'] },
        { args: [...apply, '-f', '-'], stdinFromPrevious: true },
      ],
    },
    {
      id: 'secret',
      title: `create or update Secret ${DB_APP_SECRET_NAME}, the PostgreSQL owner CloudNativePG creates (password only on stdin)`,
      commands: [
        {
          args: [
            'create',
            'secret',
            'generic',
            DB_APP_SECRET_NAME,
            ...dbAppSecretArgs(target.bundleDir, target.databaseUser),
            '--dry-run=client',
            '-o',
            'yaml',
          ],
        },
        { args: [...apply, '-f', '-'], stdinFromPrevious: true },
      ],
    },
    ...applyFiles(APPLY_PHASES.base.filter((f) => f !== 'namespace.yaml')),
    ...applyFiles(APPLY_PHASES.database),
    ...clusters.map(
      (name): Step => ({
        id: 'database',
        title: `wait for the PostgreSQL Cluster ${name} to be Ready (primary and replicas streaming)`,
        commands: [{ args: ['wait', '--for=condition=Ready', `cluster.postgresql.cnpg.io/${name}`, `--timeout=${clusterTimeout}`] }],
      }),
    ),
    ...applyFiles(APPLY_PHASES.apps),
    ...workloads.map(
      (w): Step => ({
        id: 'rollout',
        title: `wait for ${w.kind}/${w.name}`,
        commands: [{ args: ['rollout', 'status', `${w.kind}/${w.name}`, `--timeout=${target.rolloutTimeout}`] }],
      }),
    ),
    {
      id: 'smoke',
      title: `smoke check: /health answers 200 and /version reports ${target.backendTag}`,
      commands: [{ args: ['exec', 'deployment/backend', '-c', 'backend', '--', 'python', '-c', SMOKE_SCRIPT] }],
    },
    ...applyFiles(APPLY_PHASES.monitoring),
    ...applyFiles(APPLY_PHASES.edge),
  ];
  return { target, base, crds, workloads, steps };
}

/** Rollback commands: each Deployment that existed back to its recorded revision. */
export function rollbackCommands(plan: K8sPlan, revisions: Map<string, string>): Command[] {
  return plan.workloads
    .filter((w) => w.kind === 'deployment' && revisions.has(w.name))
    .flatMap((w) => [
      { args: ['rollout', 'undo', `deployment/${w.name}`, `--to-revision=${revisions.get(w.name)}`] },
      { args: ['rollout', 'status', `deployment/${w.name}`, `--timeout=${plan.target.rolloutTimeout}`] },
    ]);
}

/** `kubectl diff` per manifest, for --dry-run against a reachable cluster. */
export function diffCommands(plan: K8sPlan): Command[] {
  return APPLY_ORDER.map((file) => ({ args: ['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', manifestPath(plan.target, file)] }));
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** One printable line per step: what --dry-run shows. */
export function formatPlan(plan: K8sPlan): string {
  const lines = [`Kubernetes deploy to context ${plan.target.context}, namespace ${plan.target.namespace}:`];
  plan.steps.forEach((step, index) => {
    const command = step.commands
      .map((c) => `${['kubectl', ...plan.base, ...c.args].map(shellQuote).join(' ')}${c.stdin ? ` <<< (${c.stdin.label})` : ''}`)
      .join(' | ');
    lines.push(`${index + 1}. ${step.title}`, `   ${command.replaceAll('\n', '\\n')}`);
  });
  lines.push(
    'On a failure after the first apply: kubectl rollout undo --to-revision=<recorded> for each Deployment that existed before, wait for it, exit 1 (the PostgreSQL Cluster and Redis are never rolled back automatically).',
  );
  return lines.join('\n');
}
