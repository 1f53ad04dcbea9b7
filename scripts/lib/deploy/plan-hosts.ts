/**
 * The deploy's steps on the hosts, as data: staging on every host, the
 * PostgreSQL cluster on the db hosts, then the existing rolling flow on each
 * app host. plan.ts puts them between the steps that run here.
 */
import { join } from 'node:path';
import { CLUSTER_SERVICES } from '../cluster/topology.js';
import { composeBase } from '../compose/engine.js';
import { formatCommand } from '../host-shell.js';
import { statePaths } from '../paths.js';
import { pgbackrestImages } from '../pgbackrest/layout.js';
import { durationSeconds, MONITORING_SERVICES, migrationArgv, NGINX_RELOAD, PGBACKREST_SERVICE, scriptArgv } from './argv.js';
import { describeHost, engineNote, type HostTarget, hasRole } from './hosts.js';
import type { PlanInput, PlanStep } from './plan.js';

type Step = Omit<PlanStep, 'index'>;

/** Started and healthy on an app host before migrations: HAProxy (healthy once a leader takes writes through it) and Redis. */
export const APP_DATASTORES = [CLUSTER_SERVICES.haproxy, 'redis'] as const;

const hostCompose = (target: HostTarget, ...args: string[]): string => `${engineNote(target)}${formatCommand([...target.compose, ...args])}`;

/** Step: every host's images pulled and its bundle staged into its stack folder; no container changes. */
export function pullStep(input: PlanInput, releaseDir: string): Step {
  const { env } = input;
  const paths = statePaths(env);
  const lines = input.hosts.flatMap((target) => {
    const bundle = join(releaseDir, target.folder);
    const release = composeBase(input.flavor, env.values.COMPOSE_PROJECT_NAME, join(bundle, 'docker-compose.yml'));
    const chown =
      input.asRoot && target.engine.kind === 'local'
        ? '# chown each secret file to the uid of the service that reads it (io.healthmate.secrets-uid or user:)'
        : `# chown secret files through a container: ${formatCommand(['docker', 'run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'chown', '-v', `${join(target.currentDir, 'secrets')}:/secrets`, env.values.POSTGRES_IMAGE, '<uid>', '/secrets/<file>'])}`;
    return [
      `# host ${describeHost(target)}:`,
      ...(hasRole(target, 'db')
        ? [`# ${engineNote(target)}${formatCommand([...release, 'build', 'postgres'])}   # only when ${pgbackrestImages(env.values).db} is not on the engine`]
        : []),
      `${engineNote(target)}${formatCommand([...release, 'pull', '--quiet'])}`,
      ...(target.engine.kind === 'ssh'
        ? [`# copy ${bundle}, the certificates and TLS folders its services mount to ${target.engine.target} (tar over ssh)`]
        : []),
      `# sync ${bundle} → ${target.currentDir} (changed files replaced atomically)`,
      `# mkdir ${paths.certs} ${paths.acme} ${paths.textfile} ${paths.backups}`,
      chown,
    ];
  });
  return { id: 'pull', title: 'pull images and stage the release on every host', lines, onFailure: 'restore', inDryRun: false };
}

/**
 * Step: the PostgreSQL cluster on the db hosts. etcd first on every one (a new
 * cluster's members must start together), then PostgreSQL, then the pgbackrest
 * server. A changed PostgreSQL rolls member by member (postgres-roll.ts).
 */
export function clusterStep(input: PlanInput): Step {
  const db = input.hosts.filter((t) => hasRole(t, 'db'));
  const names = db.map((t) => t.host.name).join(', ');
  const scope = input.env.values.CLUSTER_NAME;
  const each = (...args: string[]): string[] => db.map((t) => `${hostCompose(t, ...args)}${db.length > 1 ? `   # ${t.host.name}` : ''}`);
  const lines = [
    `# db hosts: ${names}`,
    ...each('up', '-d', '--no-deps', CLUSTER_SERVICES.etcd),
    '# wait until etcd reports healthy on every db host (it answers once a majority of its members runs)',
    `# PostgreSQL whose image, service definition or files (patroni/, postgres/, its secrets) differ from the running release${input.previous ? ` (${input.previous.release})` : ''} is rolled member by member:`,
    `#   each changed replica: <its compose> ${formatCommand(['up', '-d', '--no-deps', '--force-recreate', CLUSTER_SERVICES.postgres])}, then wait until it runs as a replica (patronictl list)`,
    `#   then, when the leader changed: patronictl switchover ${scope} --leader <leader> --force (db-cluster.ts's switchover: to the synchronous standby, no commit lost; writes pause only for it), wait for the new leader, and recreate the old leader like a replica`,
    '#   an unchanged PostgreSQL is not touched; a db host without a member starts one:',
    ...each('up', '-d', '--no-deps', CLUSTER_SERVICES.postgres),
    `# wait until postgres reports healthy on every db host, and the cluster has a leader and every member (${names}) runs (patronictl list)`,
    ...each('up', '-d', '--no-deps', PGBACKREST_SERVICE),
    `# wait until ${PGBACKREST_SERVICE} reports healthy on every db host (the repository host dials it for backups)`,
  ];
  return {
    id: 'cluster',
    title: 'the PostgreSQL cluster: etcd, Patroni and the pgbackrest server on the db hosts',
    lines,
    onFailure: 'restore',
    inDryRun: false,
  };
}

/**
 * The existing rolling flow on one app host: HAProxy and Redis, the migrations
 * (on the first app host only, through HAProxy's write port), the zero-downtime
 * rolling update of backend and workers, monitoring and the smoke test.
 * `rolled`: an earlier app host is updated already, so any failure rolls back.
 */
export function appHostSteps(input: PlanInput, target: HostTarget, options: { migrate: boolean; rolled: boolean }): Step[] {
  const { env } = input;
  const paths = statePaths(env);
  const c = (...args: string[]): string => hostCompose(target, ...args);
  const host = target.host.name;
  const tag = env.values.BACKEND_TAG;
  const timeout = env.values.BACKEND_HEALTH_TIMEOUT;
  const beforeRolling = options.rolled ? 'rollback' : 'restore';
  const rolling = (service: string, replicas: number): string[] => [
    `# old = ${engineNote(target)}${formatCommand(['docker', 'ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${env.values.COMPOSE_PROJECT_NAME}`, '--filter', `label=com.docker.compose.service=${service}`])}`,
    c('up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=<old+${replicas}>`, service),
    `# wait until the ${replicas} new ${service} containers report healthy (docker inspect, at most ${timeout}s); if not: docker rm -f <new>, fail`,
  ];
  const stopOld = (service: string): string[] => [
    `${engineNote(target)}${formatCommand(['docker', 'stop', '--time', String(durationSeconds(env.values.BACKEND_STOP_GRACE)), `<old ${service}>`])}`,
    `${engineNote(target)}${formatCommand(['docker', 'rm', `<old ${service}>`])}`,
  ];
  const reloadNginx = c(...NGINX_RELOAD);
  const remote = target.engine.kind === 'ssh' ? target.engine.target : undefined;
  const onHost = remote ? ` on ${remote}` : '';
  const steps: Step[] = [
    {
      id: 'datastores',
      title: `HAProxy and Redis up and healthy`,
      lines: [
        c('up', '-d', '--no-deps', ...APP_DATASTORES),
        `# wait until ${APP_DATASTORES.join(', ')} report healthy (haproxy: a leader takes writes through it)`,
      ],
      onFailure: beforeRolling,
      inDryRun: false,
    },
  ];
  if (options.migrate)
    steps.push({
      id: 'migrate',
      title: 'run migrations in a one-off container (through HAProxy: the leader)',
      lines: [c('run', '--rm', '--no-deps', '-T', 'backend', ...migrationArgv(env))],
      onFailure: beforeRolling,
      inDryRun: false,
    });
  steps.push(
    {
      id: 'backend',
      title: `rolling update of backend to ${tag} (${env.values.BACKEND_REPLICAS} replicas, zero downtime)`,
      lines: [
        ...rolling('backend', env.values.BACKEND_REPLICAS),
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
      title: `rolling update of workers (${env.values.WORKER_REPLICAS}) and beat`,
      lines: [
        ...rolling('worker', env.values.WORKER_REPLICAS),
        ...stopOld('worker'),
        `${c('up', '-d', '--no-deps', 'beat')}  # one beat only: replaced, never doubled`,
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'monitoring',
      title: 'monitoring up, Prometheus reloaded and verified',
      lines: [
        c('up', '-d', '--no-deps', ...MONITORING_SERVICES),
        remote
          ? `# on ${remote}: curl -fsS -X POST http://127.0.0.1:9090/-/reload`
          : formatCommand(scriptArgv('reload-prometheus.ts', input, ['--url', 'http://127.0.0.1:9090'])),
        `# POST http://127.0.0.1:9093/-/reload (Alertmanager)${onHost}`,
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
    {
      id: 'smoke',
      title: 'smoke test',
      lines: [
        `${remote ? `# on ${remote}: ` : ''}${formatCommand([
          'curl',
          '-fsS',
          '--cacert',
          join(paths.certs, 'ca.pem'),
          '--resolve',
          `${env.values.DOMAIN}:${env.values.NGINX_HTTPS_PORT}:127.0.0.1`,
          `https://${env.values.DOMAIN}:${env.values.NGINX_HTTPS_PORT}/health`,
        ])}`,
        `${remote ? `# on ${remote}: ` : ''}${formatCommand(['curl', '-fsS', 'http://127.0.0.1:9090/api/v1/targets'])}`,
        '# every active target up (retried for up to 90s while the first scrapes happen)',
      ],
      onFailure: 'rollback',
      inDryRun: false,
    },
  );
  return steps.map((s) => ({ ...s, host }));
}
