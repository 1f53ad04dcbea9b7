import { join } from 'node:path';
import { IMAGE_CHECK_PROCEDURE, imageCheckLine, imageVariable } from '../check/in-image.js';
import { VALIDATORS } from '../check/registry.js';
import type { ComposeFlavor } from '../compose/engine.js';
import { ENGINE_TIMEOUT_VARIABLE, engineTimeoutSeconds } from '../docker-engine.js';
import type { LoadedEnv } from '../env/load.js';
import type { VarName } from '../env/schema.js';
import { formatCommand } from '../host-shell.js';
import { releasePath, statePaths } from '../paths.js';
import { scriptArgv } from './argv.js';
import { describeHost, engineNote, type HostTarget, hasRole } from './hosts.js';
import { appHostSteps, clusterStep, pullStep } from './plan-hosts.js';
import type { ReleaseRef } from './state.js';

export { formatCommand, shellQuote } from '../host-shell.js';
export { durationSeconds, MONITORING_SERVICES, migrationArgv, NGINX_RELOAD, PGBACKREST_SERVICE, scriptArgv } from './argv.js';

/**
 * The deploy as data: numbered steps with the commands each runs and what a
 * failure there means. `--dry-run` prints it and tests assert on it; the
 * executor (run.ts) runs the same commands. Steps 1-7 run here; then every
 * host is staged, the db hosts come first (the cluster), then each app host in
 * turn gets the rolling flow (its steps name the host).
 */
export type StepId =
  | 'env'
  | 'lock'
  | 'engines'
  | 'render'
  | 'check'
  | 'certs'
  | 'backup'
  | 'pull'
  | 'cluster'
  | 'datastores'
  | 'migrate'
  | 'backend'
  | 'workers'
  | 'monitoring'
  | 'smoke'
  | 'audit'
  | 'unlock';

/**
 * What a failure at a step leads to:
 * - abort: nothing was changed yet; release the lock and exit.
 * - restore: files in the hosts' stack folders changed but no app container did; put the previous release's files back.
 * - rollback: the rolling update began; roll backend and workers back to the previous tag on every app host.
 * - report: the deploy itself is done; record the failure, no containers change.
 */
export type OnFailure = 'abort' | 'restore' | 'rollback' | 'report';

export interface PlanStep {
  index: number;
  id: StepId;
  title: string;
  /** Commands (shell-quoted for display) and notes (prefixed with #). */
  lines: string[];
  onFailure: OnFailure;
  /** Steps 1-6 run in a dry run too (engines probed, render into a temp folder, read-only checks). */
  inDryRun: boolean;
  /** Why the step is skipped, when it is. */
  skipped?: string;
  /** The app host the step runs on; absent: here, or on every host its lines name. */
  host?: string;
}

export interface DeployPlan {
  env: LoadedEnv;
  image: string;
  tag: string;
  releaseId: string;
  /** The release: a copy of dist/<env>, one folder per host when there are several. */
  releaseDir: string;
  /** Every host of the inventory, in order; the first keeps the lock, state.json and the audit log. */
  hosts: HostTarget[];
  previous?: ReleaseRef;
  steps: PlanStep[];
}

export interface PlanInput {
  env: LoadedEnv;
  envFile?: string;
  /** Non-secret --set overrides (HOST_ lines too), passed on to the scripts the deploy calls. */
  overrides: Record<string, string>;
  flavor: ComposeFlavor;
  /** Every host of the inventory as the deploy reaches it (hostTargets). */
  hosts: HostTarget[];
  releaseId: string;
  previous?: ReleaseRef;
  skipBackup: boolean;
  /** --skip-check names: checks the deploy leaves out (recorded in the audit log). */
  skipChecks: string[];
  /** Whether the deploying user is root (chown directly) or not (chown through a container). */
  asRoot: boolean;
}

/**
 * The check step: check.ts's validators on each host's bundle, with each tool
 * (nginx -t, promtool, amtool, blackbox) run from the pinned image through
 * that host's engine, so the operator machine needs only Docker. A check that
 * cannot run stops the deploy unless --skip-check names it.
 */
function checkLines(input: PlanInput, releaseDir: string): string[] {
  const skip = new Set(input.skipChecks);
  const inImage = VALIDATORS.flatMap((v) => v.inImage ?? []);
  const bundles = input.hosts.map((t) => join(releaseDir, t.folder));
  const lines = [
    `# every validator of ${bundles.map((b) => formatCommand(scriptArgv('check.ts', input, ['--bundle', b]))).join('; ')}; the tools run in the stack's images through each host's engine (DOCKER_HOST):`,
    `# each: ${IMAGE_CHECK_PROCEDURE}`,
  ];
  for (const check of inImage) {
    if (skip.has(check.name)) continue;
    const variable = imageVariable(check.service) as VarName;
    lines.push(imageCheckLine(check, check.planImage?.(input.env) ?? String(input.env.values[variable] ?? `<${variable}>`)));
  }
  lines.push('# a check that cannot run (image not pullable, tool missing here) stops the deploy unless --skip-check <name> is given');
  if (skip.size > 0) lines.push(`# skipped by --skip-check (recorded in the audit log): ${[...skip].sort().join(', ')}`);
  return lines;
}

export function buildPlan(input: PlanInput): DeployPlan {
  const { env, hosts } = input;
  const paths = statePaths(env);
  const releaseDir = releasePath(paths.deploy, input.releaseId);
  const tag = env.values.BACKEND_TAG;
  const image = `${env.values.BACKEND_IMAGE}:${tag}`;
  const first = hosts[0] as HostTarget;
  const firstDb = hosts.find((t) => hasRole(t, 'db')) as HostTarget;
  // Lock, state.json and audit.log live on the inventory's first host (store.ts), as db-cluster.ts keeps them.
  const keeper = `the inventory's first host ${first.host.name}${first.engine.kind === 'ssh' ? ` (${first.engine.target})` : ' (this machine)'}`;
  const several = hosts.length > 1;

  const certLines = [
    formatCommand(scriptArgv('check-certs.ts', input, ['--warn-days', '21'])),
    `# missing or expiring and no ACME certificate: ${formatCommand(scriptArgv('generate-certs.ts', input, ['--mode', 'ca']))} (warns: local CA)`,
    `${formatCommand(scriptArgv('generate-certs.ts', input, ['--profile', 'pgbackrest']))}   # pgBackRest mutual TLS; valid ones are kept`,
    `${formatCommand(scriptArgv('generate-certs.ts', input, ['--profile', 'cluster']))}   # etcd and Patroni TLS per db host; valid ones are kept`,
  ];
  const appHosts = hosts.filter((t) => hasRole(t, 'app'));

  const steps: Omit<PlanStep, 'index'>[] = [
    {
      id: 'env',
      title: 'load and validate the env',
      lines: [`# ${env.file ?? 'defaults'} → ${env.name}, image ${image}`, ...hosts.map((t) => `# host ${describeHost(t)}`)],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'lock',
      title: 'take the deploy lock',
      lines: [
        `# on ${keeper}: ln <owner> ${join(paths.deploy, 'lock.json')} (owner: user, host, pid, when, version; written in the same atomic step)`,
        "# held: exit 2 naming the holder; a dead process of this machine is taken over; another machine's lock needs --force-unlock --reason",
      ],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'engines',
      title: "every host's Docker engine answers, before anything changes on any host",
      lines: [
        ...hosts.map((t) => `${engineNote(t)}docker version --format '{{.Server.Version}}'   # host ${t.host.name}`),
        `# each at most ${engineTimeoutSeconds()}s (${ENGINE_TIMEOUT_VARIABLE}); one that does not answer: exit 1 naming the host, the lock released, nothing changed on any host`,
      ],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'render',
      title: 'render the bundles and keep them as a release',
      lines: [
        formatCommand(scriptArgv('render.ts', input)),
        ...(several ? [`# one bundle per host: ${hosts.map((t) => `dist/${env.name}/${t.folder}`).join(', ')}`] : []),
        `# copy dist/${env.name} → ${releaseDir}`,
      ],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'check',
      title: several
        ? "check every host's bundle with every validator, the tools in the images the stack runs"
        : 'check the bundle with every validator, the tools in the images the stack runs',
      lines: checkLines(input, releaseDir),
      onFailure: 'abort',
      inDryRun: true,
    },
    { id: 'certs', title: 'certificates present and not expiring', lines: certLines, onFailure: 'abort', inDryRun: true },
    {
      id: 'backup',
      title: 'back up the database before migrations',
      lines: [
        `${engineNote(firstDb)}${formatCommand(scriptArgv('backup-db.ts', input, ['--compose', '--no-offsite']))}${several ? `   # through db host ${firstDb.host.name}` : ''}`,
        '# skipped when PostgreSQL is not running yet (first deploy)',
      ],
      onFailure: 'abort',
      inDryRun: false,
      ...(input.skipBackup ? { skipped: '--skip-backup' } : {}),
    },
    pullStep(input, releaseDir),
    clusterStep(input),
    ...appHosts.flatMap((target, i) => appHostSteps(input, target, { migrate: i === 0, rolled: i > 0 })),
    {
      id: 'audit',
      title: 'record the deploy',
      lines: [
        `# on ${keeper}: append a JSON line to ${join(paths.deploy, 'audit.log')}; state.json: current ${input.releaseId}, previous ${input.previous?.release ?? '(none)'}`,
      ],
      onFailure: 'report',
      inDryRun: false,
    },
    {
      id: 'unlock',
      title: 'release the deploy lock',
      lines: [`# on ${keeper}: rm ${join(paths.deploy, 'lock.json')} (only while it is still ours)`],
      onFailure: 'report',
      inDryRun: true,
    },
  ];
  return {
    env,
    image,
    tag,
    releaseId: input.releaseId,
    releaseDir,
    hosts,
    ...(input.previous ? { previous: input.previous } : {}),
    steps: steps.map((step, i) => ({ ...step, index: i + 1 })),
  };
}

/** The rollback procedure, printed with the plan so on-call knows what a failure does. */
export function rollbackLines(plan: DeployPlan): string[] {
  if (!plan.previous) return ['# no previous release recorded: a failed rolling update removes its new containers; the old ones never stopped serving'];
  const lines = [`# on every app host: sync its bundle of release ${plan.previous.release} into its stack folder`];
  for (const target of plan.hosts.filter((t) => hasRole(t, 'app'))) {
    const c = (...args: string[]): string => `${engineNote(target)}${formatCommand([...target.compose, ...args])}`;
    lines.push(
      `# host ${target.host.name}: rolling update of backend and workers back to ${plan.previous.tag} (only where a container runs another image), same procedure as above`,
      c('up', '-d', '--no-deps', 'beat'),
      c('exec', '-T', 'nginx', 'nginx', '-p', '/var/cache/nginx/', '-c', '/etc/nginx/nginx.conf', '-e', 'stderr', '-s', 'reload'),
    );
  }
  lines.push(
    '# db hosts: their files back to that release; PostgreSQL keeps running as it is',
    '# exit 1 with the reason; the audit log records result "rolled-back"',
  );
  return lines;
}

export function formatPlan(plan: DeployPlan, options: { dryRun: boolean }): string {
  const last = plan.steps.filter((s) => s.inDryRun && s.id !== 'unlock').at(-1)?.index;
  const out = [
    `deploy plan: ${plan.env.name} ${plan.image} (release ${plan.releaseId}), ${plan.hosts.length} host${plan.hosts.length > 1 ? 's' : ''}${options.dryRun ? ` [dry run: steps 1-${last} run read-only, nothing else]` : ''}`,
  ];
  for (const step of plan.steps) {
    out.push(
      `${step.index}. ${step.host ? `[host ${step.host}] ` : ''}${step.title}${step.skipped ? ` [skipped: ${step.skipped}]` : ''}  (on failure: ${step.onFailure})`,
    );
    for (const line of step.lines) out.push(`     ${line}`);
  }
  out.push(`on a failure at step ${plan.steps.find((s) => s.onFailure === 'rollback')?.index ?? '?'} or later: roll back`);
  for (const line of rollbackLines(plan)) out.push(`     ${line}`);
  return out.join('\n');
}
