import { join } from 'node:path';
import { IMAGE_CHECK_PROCEDURE, imageCheckLine, imageVariable } from '../check/in-image.js';
import { VALIDATORS } from '../check/registry.js';
import { type ComposeFlavor, composeBase } from '../compose/engine.js';
import { DATASTORES } from '../compose/host-setup.js';
import type { LoadedEnv } from '../env/load.js';
import { SCHEMA, type VarName } from '../env/schema.js';
import { formatCommand } from '../host-shell.js';
import { statePaths } from '../paths.js';
import { pgbackrestImages } from '../pgbackrest/layout.js';
import type { EngineHost } from './host.js';
import { CURRENT_DIR, releasePath } from './releases.js';
import type { ReleaseRef } from './state.js';

export { formatCommand, shellQuote } from '../host-shell.js';

/**
 * The deploy as data: numbered steps with the commands each runs and what a
 * failure there means. `--dry-run` prints it and tests assert on it; the
 * executor (run.ts) runs the same commands.
 */
export type StepId =
  | 'env'
  | 'lock'
  | 'render'
  | 'check'
  | 'certs'
  | 'backup'
  | 'pull'
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
 * - restore: files in `current` changed but no app container did; put the previous release's files back.
 * - rollback: the rolling update began; roll backend and workers back to the previous tag.
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
  /** Steps 1-5 run in a dry run too (render into a temp folder, read-only checks). */
  inDryRun: boolean;
  /** Why the step is skipped, when it is. */
  skipped?: string;
}

export interface DeployPlan {
  env: LoadedEnv;
  image: string;
  tag: string;
  releaseId: string;
  releaseDir: string;
  currentDir: string;
  composeFile: string;
  compose: string[];
  previous?: ReleaseRef;
  steps: PlanStep[];
}

export interface PlanInput {
  env: LoadedEnv;
  envFile?: string;
  /** Non-secret --set overrides, passed on to the scripts the deploy calls. */
  overrides: Record<string, string>;
  flavor: ComposeFlavor;
  host: EngineHost;
  releaseId: string;
  previous?: ReleaseRef;
  skipBackup: boolean;
  /** --skip-check names: checks the deploy leaves out (recorded in the audit log). */
  skipChecks: string[];
  /** Whether the deploying user is root (chown directly) or not (chown through a container). */
  asRoot: boolean;
}

/** Rolling-updated services and the rest of the long-running stack (DATASTORES: shared with up.sh's host setup). */
export { DATASTORES };

/** pgBackRest's TLS server beside PostgreSQL (it waits for postgres to be healthy). */
export const PGBACKREST_SERVICE = 'pgbackrest';

/**
 * Graceful nginx reload from inside the container (the master reads its pid file under the -p
 * prefix of the compose command). Never `docker kill -s HUP`: Docker 20.10 counts any
 * `docker kill` as a manual stop, and nginx then stays down after a daemon restart or a reboot
 * (e2e chaos scenario 4).
 */
export const NGINX_RELOAD = ['exec', '-T', 'nginx', 'nginx', '-p', '/var/cache/nginx/', '-c', '/etc/nginx/nginx.conf', '-e', 'stderr', '-s', 'reload'];
export const MONITORING_SERVICES = [
  'prometheus',
  'alertmanager',
  'grafana',
  'postgres-exporter',
  'redis-exporter',
  'node-exporter',
  'nginx-exporter',
  'blackbox-exporter',
] as const;

/** How the deploy calls another repo script: same env file, same non-secret overrides. */
export function scriptArgv(script: string, input: Pick<PlanInput, 'env' | 'envFile' | 'overrides'>, extra: string[] = []): string[] {
  const sets = Object.entries(input.overrides)
    .filter(([name]) => !(SCHEMA[name as VarName]?.secret ?? false))
    .flatMap(([name, value]) => ['--set', `${name}=${value}`]);
  return ['npx', 'tsx', `scripts/${script}`, '--env', input.env.name, ...(input.envFile ? ['--env-file', input.envFile] : []), ...sets, ...extra];
}

export function migrationArgv(env: LoadedEnv): string[] {
  return env.values.MIGRATION_COMMAND.trim().split(/\s+/);
}

/**
 * The check step: check.ts's validators, with each tool (nginx -t, promtool,
 * amtool, blackbox) run from the pinned image through the deploy's engine, so
 * the operator machine needs only Docker. A check that cannot run stops the
 * deploy unless --skip-check names it.
 */
function checkLines(input: PlanInput, releaseDir: string): string[] {
  const skip = new Set(input.skipChecks);
  const inImage = VALIDATORS.flatMap((v) => v.inImage ?? []);
  const lines = [
    `# every validator of ${formatCommand(scriptArgv('check.ts', input, ['--bundle', releaseDir]))}; the tools run in the stack's images through the engine (DOCKER_HOST):`,
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
  const { env, flavor, host } = input;
  const paths = statePaths(env);
  const currentDir = join(paths.deploy, CURRENT_DIR);
  const composeFile = join(currentDir, 'docker-compose.yml');
  const compose = composeBase(flavor, env.values.COMPOSE_PROJECT_NAME, composeFile);
  const c = (...args: string[]): string => formatCommand([...compose, ...args]);
  const releaseDir = releasePath(paths.deploy, input.releaseId);
  const tag = env.values.BACKEND_TAG;
  const image = `${env.values.BACKEND_IMAGE}:${tag}`;
  const n = env.values.BACKEND_REPLICAS;
  const w = env.values.WORKER_REPLICAS;
  const grace = env.values.BACKEND_STOP_GRACE;
  const timeout = env.values.BACKEND_HEALTH_TIMEOUT;
  // Lock, state.json and audit.log live on the engine's host (store.ts).
  const onHost = host.kind === 'ssh' ? `on ${host.target}: ` : '';
  const hostNote = host.kind === 'ssh' ? `# engine host ${host.target}: host commands run through ssh` : '# engine: local';

  const rolling = (service: string, replicas: number): string[] => [
    `# old = ${formatCommand(['docker', 'ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${env.values.COMPOSE_PROJECT_NAME}`, '--filter', `label=com.docker.compose.service=${service}`])}`,
    c('up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=<old+${replicas}>`, service),
    `# wait until the ${replicas} new ${service} containers report healthy (docker inspect, at most ${timeout}s); if not: docker rm -f <new>, fail`,
  ];
  const reloadNginx = c(...NGINX_RELOAD);
  const stopOld = (service: string): string[] => [
    formatCommand(['docker', 'stop', '--time', String(durationSeconds(grace)), `<old ${service}>`]),
    formatCommand(['docker', 'rm', `<old ${service}>`]),
  ];

  const chown =
    input.asRoot && host.kind === 'local'
      ? '# chown each secret file to the uid of the service that reads it (io.healthmate.secrets-uid or user:)'
      : `# chown secret files through a container: ${formatCommand(['docker', 'run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'chown', '-v', `${join(currentDir, 'secrets')}:/secrets`, env.values.POSTGRES_IMAGE, '<uid>', '/secrets/<file>'])}`;

  const certLines = [
    formatCommand(scriptArgv('check-certs.ts', input, ['--warn-days', '21'])),
    `# missing or expiring and no ACME certificate: ${formatCommand(scriptArgv('generate-certs.ts', input, ['--mode', 'ca']))} (warns: local CA)`,
    `${formatCommand(scriptArgv('generate-certs.ts', input, ['--profile', 'pgbackrest']))}   # pgBackRest mutual TLS; valid ones are kept`,
    `${formatCommand(scriptArgv('generate-certs.ts', input, ['--profile', 'cluster']))}   # etcd and Patroni TLS per db host; valid ones are kept`,
  ];

  const steps: Omit<PlanStep, 'index'>[] = [
    {
      id: 'env',
      title: 'load and validate the env',
      lines: [`# ${env.file ?? 'defaults'} → ${env.name}, image ${image}`, hostNote],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'lock',
      title: 'take the deploy lock',
      lines: [
        `# ${onHost}ln <owner> ${join(paths.deploy, 'lock.json')} (owner: user, host, pid, when, version; written in the same atomic step)`,
        "# held: exit 2 naming the holder; a dead process of this machine is taken over; another machine's lock needs --force-unlock --reason",
      ],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'render',
      title: 'render the bundle and keep it as a release',
      lines: [formatCommand(scriptArgv('render.ts', input)), `# copy dist/${env.name} → ${releaseDir}`],
      onFailure: 'abort',
      inDryRun: true,
    },
    {
      id: 'check',
      title: 'check the bundle with every validator, the tools in the images the stack runs',
      lines: checkLines(input, releaseDir),
      onFailure: 'abort',
      inDryRun: true,
    },
    { id: 'certs', title: 'certificates present and not expiring', lines: certLines, onFailure: 'abort', inDryRun: true },
    {
      id: 'backup',
      title: 'back up the database before migrations',
      lines: [formatCommand(scriptArgv('backup-db.ts', input, ['--compose', '--no-offsite'])), '# skipped when PostgreSQL is not running yet (first deploy)'],
      onFailure: 'abort',
      inDryRun: false,
      ...(input.skipBackup ? { skipped: '--skip-backup' } : {}),
    },
    {
      id: 'pull',
      title: 'pull images and stage the release',
      lines: [
        `# ${formatCommand([...composeBase(flavor, env.values.COMPOSE_PROJECT_NAME, join(releaseDir, 'docker-compose.yml')), 'build', 'postgres'])}   # only when ${pgbackrestImages(env.values).db} is not on the engine`,
        formatCommand([...composeBase(flavor, env.values.COMPOSE_PROJECT_NAME, join(releaseDir, 'docker-compose.yml')), 'pull', '--quiet']),
        ...(host.kind === 'ssh' ? [`# copy ${releaseDir} and ${paths.certs} to ${host.target} (tar over ssh)`] : []),
        `# sync ${releaseDir} → ${currentDir} (changed files replaced atomically)`,
        `# mkdir ${paths.certs} ${paths.acme} ${paths.textfile} ${paths.backups}`,
        chown,
      ],
      onFailure: 'restore',
      inDryRun: false,
    },
    {
      id: 'datastores',
      title: 'the PostgreSQL cluster, redis and the pgbackrest server up and healthy',
      lines: [
        c('up', '-d', '--no-deps', ...DATASTORES),
        `# wait until ${DATASTORES.join(', ')} report healthy (postgres: Patroni's /readiness, the member leads or replicates; haproxy: a leader takes writes)`,
        c('up', '-d', '--no-deps', PGBACKREST_SERVICE),
        `# wait until ${PGBACKREST_SERVICE} reports healthy (the repository host dials it for backups)`,
      ],
      onFailure: 'restore',
      inDryRun: false,
    },
    {
      id: 'migrate',
      title: 'run migrations in a one-off container',
      lines: [c('run', '--rm', '--no-deps', '-T', 'backend', ...migrationArgv(env))],
      onFailure: 'restore',
      inDryRun: false,
    },
    {
      id: 'backend',
      title: `rolling update of backend to ${tag} (${n} replicas, zero downtime)`,
      lines: [
        ...rolling('backend', n),
        `${c('up', '-d', '--no-deps', 'nginx')}  # starts nginx on a first deploy, else a no-op`,
        `${reloadNginx}  # graceful reload: nginx re-resolves backend to old + new`,
        ...stopOld('backend'),
        `${reloadNginx}  # only the new replicas remain`,
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'workers',
      title: `rolling update of workers (${w}) and beat`,
      lines: [...rolling('worker', w), ...stopOld('worker'), `${c('up', '-d', '--no-deps', 'beat')}  # one beat only: replaced, never doubled`],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'monitoring',
      title: 'monitoring up, Prometheus reloaded and verified',
      lines: [
        c('up', '-d', '--no-deps', ...MONITORING_SERVICES),
        formatCommand(scriptArgv('reload-prometheus.ts', input, ['--url', 'http://127.0.0.1:9090'])),
        '# POST http://127.0.0.1:9093/-/reload (Alertmanager)',
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'smoke',
      title: 'smoke test',
      lines: [
        formatCommand([
          'curl',
          '-fsS',
          '--cacert',
          join(paths.certs, 'ca.pem'),
          '--resolve',
          `${env.values.DOMAIN}:${env.values.NGINX_HTTPS_PORT}:127.0.0.1`,
          `https://${env.values.DOMAIN}:${env.values.NGINX_HTTPS_PORT}/health`,
        ]),
        formatCommand(['curl', '-fsS', 'http://127.0.0.1:9090/api/v1/targets']),
        '# every active target up (retried for up to 90s while the first scrapes happen)',
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'audit',
      title: 'record the deploy',
      lines: [
        `# ${onHost}append a JSON line to ${join(paths.deploy, 'audit.log')}; state.json: current ${input.releaseId}, previous ${input.previous?.release ?? '(none)'}`,
      ],
      onFailure: 'report',
      inDryRun: false,
    },
    {
      id: 'unlock',
      title: 'release the deploy lock',
      lines: [`# ${onHost}rm ${join(paths.deploy, 'lock.json')} (only while it is still ours)`],
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
    currentDir,
    composeFile,
    compose,
    ...(input.previous ? { previous: input.previous } : {}),
    steps: steps.map((step, i) => ({ ...step, index: i + 1 })),
  };
}

/** The rollback procedure, printed with the plan so on-call knows what a failure does. */
export function rollbackLines(plan: DeployPlan): string[] {
  if (!plan.previous) return ['# no previous release recorded: a failed rolling update removes its new containers; the old ones never stopped serving'];
  const c = (...args: string[]): string => formatCommand([...plan.compose, ...args]);
  return [
    `# sync ${join(plan.currentDir, '..', 'releases', plan.previous.release)} → ${plan.currentDir}`,
    `# rolling update of backend and workers back to ${plan.previous.tag} (only where a container runs another image), same procedure as above`,
    c('up', '-d', '--no-deps', 'beat'),
    c(...NGINX_RELOAD),
    '# exit 1 with the reason; the audit log records result "rolled-back"',
  ];
}

export function formatPlan(plan: DeployPlan, options: { dryRun: boolean }): string {
  const out = [
    `deploy plan: ${plan.env.name} ${plan.image} (release ${plan.releaseId})${options.dryRun ? ' [dry run: steps 1-5 run read-only, nothing else]' : ''}`,
  ];
  for (const step of plan.steps) {
    out.push(`${step.index}. ${step.title}${step.skipped ? ` [skipped: ${step.skipped}]` : ''}  (on failure: ${step.onFailure})`);
    for (const line of step.lines) out.push(`     ${line}`);
  }
  out.push(`on a failure at step ${plan.steps.find((s) => s.onFailure === 'rollback')?.index ?? '?'} or later: roll back`);
  for (const line of rollbackLines(plan)) out.push(`     ${line}`);
  return out.join('\n');
}

/** Seconds in a compose-style duration (30s, 2m, 1h). */
export function durationSeconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(duration);
  if (!match) return 30;
  const value = Number(match[1]);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[match[2] as 'ms'];
  return Math.max(1, Math.ceil(value * unit));
}
