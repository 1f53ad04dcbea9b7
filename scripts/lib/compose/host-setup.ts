import { join, posix } from 'node:path';
import { SERVER_FILES } from '../certs/plan.js';
import { bundleHost } from '../cluster/deriver.js';
import type { LoadedEnv } from '../env/load.js';
import { CLUSTER_TLS_FILES, clusterCaDir, clusterTlsDir, statePaths } from '../paths.js';
import { PGBACKREST_TLS_FILES, pgbackrestTlsDir } from '../pgbackrest/layout.js';
import type { BundleFile } from '../render/bundle.js';
import { type ComposeModel, parseCompose, secretOwners } from './model.js';

/**
 * What a host must hold before `compose up`, derived from the rendered compose
 * file and the env. One derivation for both ways a bundle comes up: deploy-prod.ts
 * applies it in Node, and render writes it into the bundle (SECRET_OWNERS_FILE,
 * HOST_SETUP_FILE) for up.sh on a host without Node.
 */
export interface HostSetup {
  project: string;
  /** Each secret file (bundle path) and the uid of the service that reads it (io.healthmate.secrets-uid or user:). */
  secrets: { path: string; uid: number; mode: number }[];
  /** Folders under STATE_DIR the stack bind-mounts or writes; `uid` when a service other than root writes there. */
  stateDirs: { path: string; uid?: number }[];
  /** Bundle folders a container needs inside a read-only parent mount (Docker cannot create them there). */
  mountpoints: string[];
  /** Host files that must exist before nginx can start (the server certificate and key). */
  required: string[];
  /** Long-running services a plain `compose up` starts (no profile). */
  services: string[];
  datastores: string[];
  migration: string[];
  /** Services that re-read their config on SIGHUP, so files copied over a running stack take effect. */
  reload: string[];
}

export const COMPOSE_FILE = 'docker-compose.yml';
export const SECRET_OWNERS_FILE = 'secret-owners.txt';
export const HOST_SETUP_FILE = 'host-setup.txt';
export const SECRET_MODE = 0o600;
/** Re-read their config files on SIGHUP (compose does not recreate a container whose folder mount changed). */
const RELOAD_ON_SIGHUP = ['nginx', 'prometheus', 'alertmanager', 'blackbox-exporter'];
/**
 * Started and healthy before migrations run, as in the scripted deploy: the
 * cluster (etcd, PostgreSQL under Patroni, HAProxy, healthy once a leader takes
 * writes through it) and Redis. A bundle holds those of its host's roles.
 */
export const DATASTORES = ['etcd', 'postgres', 'haproxy', 'redis'] as const;

export function hostSetup(model: ComposeModel, env: LoadedEnv): HostSetup {
  const paths = statePaths(env);
  const postgres = model.services.find((s) => s.name === 'postgres');
  return {
    project: env.values.COMPOSE_PROJECT_NAME,
    secrets: secretOwners(model).owners.map((o) => ({ path: posix.normalize(o.file), uid: o.uid, mode: SECRET_MODE })),
    stateDirs: [{ path: paths.certs }, { path: paths.acme }, { path: paths.textfile }, { path: paths.backups }, { path: join(paths.root, 'letsencrypt') }],
    mountpoints: nestedMountpoints(model),
    required: [
      join(paths.certs, SERVER_FILES.fullchain),
      join(paths.certs, SERVER_FILES.privkey),
      // pgBackRest's mutual-TLS files, mounted into postgres and its pgbackrest server (generate-certs.ts --profile pgbackrest).
      ...(postgres ? Object.values(PGBACKREST_TLS_FILES).map((file) => join(pgbackrestTlsDir(paths, 'db'), file)) : []),
      // The cluster's TLS files (generate-certs.ts --profile cluster): this host's etcd and Patroni certificates, the CA for HAProxy and Prometheus.
      ...clusterTlsFiles(model, env),
    ],
    services: model.services.filter((s) => !s.profiles?.length).map((s) => s.name),
    datastores: DATASTORES.filter((name) => model.services.some((s) => s.name === name)),
    migration: env.values.MIGRATION_COMMAND.trim().split(/\s+/),
    reload: RELOAD_ON_SIGHUP.filter((name) => model.services.some((s) => s.name === name && !s.profiles?.length)),
  };
}

/** The cluster TLS files of the folders the bundle's services mount: the host's own etcd and Patroni certificates, the CA alone for HAProxy and Prometheus. */
function clusterTlsFiles(model: ComposeModel, env: LoadedEnv): string[] {
  const paths = statePaths(env);
  const host = bundleHost(env).name;
  const folders = new Map<string, string[]>([
    ...(['etcd', 'postgres'] as const).map((c): [string, string[]] => [clusterTlsDir(paths, host, c), Object.values(CLUSTER_TLS_FILES)]),
    [clusterCaDir(paths), [CLUSTER_TLS_FILES.ca]],
  ]);
  const mounted = new Set(model.services.flatMap((s) => s.volumes.filter((v) => v.kind === 'bind').map((v) => v.source)));
  return [...folders].filter(([dir]) => mounted.has(dir)).flatMap(([dir, files]) => files.map((f) => join(dir, f)));
}

/** The host setup of a rendered compose file (text), for the bundle writer. */
export function hostSetupOf(composeText: string, env: LoadedEnv): HostSetup {
  return hostSetup(parseCompose(composeText), env);
}

/**
 * Folders a container needs inside a read-only parent mount, e.g. /etc/nginx/certs
 * inside ./nginx mounted at /etc/nginx: Docker cannot create a mountpoint in a
 * read-only bind, so it must exist in the host folder. Returns bundle-relative paths.
 */
export function nestedMountpoints(model: ComposeModel): string[] {
  const out = new Set<string>();
  for (const service of model.services) {
    const binds = service.volumes.filter((v) => v.kind === 'bind');
    for (const inner of binds) {
      for (const outer of binds) {
        if (outer === inner || !outer.source.startsWith('.') || !inner.target.startsWith(`${outer.target.replace(/\/$/, '')}/`)) continue;
        const rel = inner.target.slice(outer.target.replace(/\/$/, '').length + 1);
        out.add(posix.normalize(posix.join(outer.source, rel)));
      }
    }
  }
  return [...out].sort();
}

const HEADER = '# Written by render.ts from docker-compose.yml and the env; read by up.sh. Do not edit: render again.';

/** `<uid> <mode> <path>` per secret file: the owner list up.sh applies. */
export function formatSecretOwners(setup: HostSetup): string {
  const lines = setup.secrets.map((s) => `${s.uid} 0${s.mode.toString(8)} ${s.path}`);
  return `${HEADER}\n# <uid> <mode> <file>: the uid of the service that reads the file (label io.healthmate.secrets-uid, else user:).\n${lines.join('\n')}\n`;
}

/** One `<kind> <values...>` line per item; paths contain no spaces (STATE_DIR is checked by the env schema). */
export function formatHostSetup(setup: HostSetup): string {
  const lines = [
    HEADER,
    `project ${setup.project}`,
    ...setup.services.map((s) => `service ${s}`),
    ...setup.datastores.map((s) => `datastore ${s}`),
    `migrate ${setup.migration.join(' ')}`,
    ...setup.reload.map((s) => `reload ${s}`),
    ...setup.stateDirs.map((d) => `state-dir ${d.uid ?? '-'} ${d.path}`),
    ...setup.mountpoints.map((m) => `mountpoint ${m}`),
    ...setup.required.map((r) => `require ${r}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The owner list and host setup files for a bundle; none when it has no compose file. */
export function hostSetupFiles(env: LoadedEnv, files: Pick<BundleFile, 'path' | 'content'>[]): BundleFile[] {
  const compose = files.find((f) => f.path === COMPOSE_FILE);
  if (!compose) return [];
  const setup = hostSetupOf(compose.content, env);
  return [
    { path: SECRET_OWNERS_FILE, content: formatSecretOwners(setup), mode: 0o644, secret: false },
    { path: HOST_SETUP_FILE, content: formatHostSetup(setup), mode: 0o644, secret: false },
  ];
}
