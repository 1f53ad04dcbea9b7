import { isIP } from 'node:net';
import { join, posix } from 'node:path';
import { SERVER_FILES } from '../certs/plan.js';
import type { InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { CLUSTER_TLS_FILES, clusterCaDir, clusterTlsDir, statePaths } from '../paths.js';
import { PGBACKREST_TLS_FILES, pgbackrestTlsDir } from '../pgbackrest/layout.js';
import type { BundleExtra } from '../render/derived.js';
import { type ComposeModel, parseCompose, secretOwners } from './model.js';

/**
 * What a host must hold before `compose up`, derived from the rendered compose
 * file and the env. One derivation for both ways a bundle comes up: deploy-prod.ts
 * applies it in Node, and render writes it into the bundle (SECRET_OWNERS_FILE,
 * HOST_SETUP_FILE) for up.sh on a host without Node.
 */
export interface HostSetup {
  project: string;
  /** The inventory host the bundle is for, and the address it publishes on (up.sh refuses a machine without it). */
  host: Pick<InventoryHost, 'name' | 'address'>;
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
  /** The migration command, run in a one-off backend container; empty on a host without the backend (a db host). */
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

/** The service the migrations run in (a one-off container of its image): only a host that runs it migrates. */
const MIGRATION_SERVICE = 'backend';

export function hostSetup(model: ComposeModel, env: LoadedEnv, host: Pick<InventoryHost, 'name' | 'address'>): HostSetup {
  const paths = statePaths(env);
  return {
    project: env.values.COMPOSE_PROJECT_NAME,
    host: { name: host.name, ...(host.address ? { address: host.address } : {}) },
    secrets: secretOwners(model).owners.map((o) => ({ path: posix.normalize(o.file), uid: o.uid, mode: SECRET_MODE })),
    stateDirs: [{ path: paths.certs }, { path: paths.acme }, { path: paths.textfile }, { path: paths.backups }, { path: join(paths.root, 'letsencrypt') }],
    mountpoints: nestedMountpoints(model),
    required: requiredFiles(model, env, host.name),
    services: model.services.filter((s) => !s.profiles?.length).map((s) => s.name),
    datastores: DATASTORES.filter((name) => model.services.some((s) => s.name === name)),
    migration: model.services.some((s) => s.name === MIGRATION_SERVICE) ? env.values.MIGRATION_COMMAND.trim().split(/\s+/) : [],
    reload: RELOAD_ON_SIGHUP.filter((name) => model.services.some((s) => s.name === name && !s.profiles?.length)),
  };
}

/**
 * The certificate files of the state folders the bundle's services mount: nginx's
 * server certificate, pgBackRest's mutual-TLS files (generate-certs.ts --profile
 * pgbackrest), this host's etcd and Patroni certificates and the CA alone for
 * HAProxy and Prometheus (--profile cluster). A host gets those of its services only.
 */
function requiredFiles(model: ComposeModel, env: LoadedEnv, host: string): string[] {
  const paths = statePaths(env);
  const folders = new Map<string, string[]>([
    [paths.certs, [SERVER_FILES.fullchain, SERVER_FILES.privkey]],
    [pgbackrestTlsDir(paths, 'db'), Object.values(PGBACKREST_TLS_FILES)],
    ...(['etcd', 'postgres'] as const).map((c): [string, string[]] => [clusterTlsDir(paths, host, c), Object.values(CLUSTER_TLS_FILES)]),
    [clusterCaDir(paths), [CLUSTER_TLS_FILES.ca]],
  ]);
  // nginx mounts the whole certs folder; only these two files must be there before it starts.
  const mounted = new Set(model.services.filter((s) => !s.profiles?.length).flatMap((s) => s.volumes.filter((v) => v.kind === 'bind').map((v) => v.source)));
  return [...folders].filter(([dir]) => mounted.has(dir)).flatMap(([dir, files]) => files.map((f) => join(dir, f)));
}

/** The host setup of a rendered compose file (text), for the bundle writer. */
export function hostSetupOf(composeText: string, env: LoadedEnv, host: Pick<InventoryHost, 'name' | 'address'>): HostSetup {
  return hostSetup(parseCompose(composeText), env, host);
}

/**
 * How up.sh recognises the host's address among the machine's own: an IPv4
 * address as written (Linux lists its local ones in /proc/net/fib_trie), an
 * IPv6 one as the 32 hex digits of /proc/net/if_inet6. A DNS name is not checked.
 */
export function addressLine(address: string): string {
  if (isIP(address) === 4) return `address4 ${address}`;
  if (isIP(address) === 6) return `address6 ${expandIPv6(address)}`;
  return `address-name ${address}`;
}

function expandIPv6(address: string): string {
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (part: string): string[] => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail ?? '').length;
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(missing).fill('0'), ...groups(tail)];
  return all.map((g) => g.padStart(4, '0')).join('');
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
    `host ${setup.host.name}${setup.host.address ? ` ${setup.host.address}` : ''}`,
    ...(setup.host.address ? [addressLine(setup.host.address)] : []),
    ...setup.services.map((s) => `service ${s}`),
    ...setup.datastores.map((s) => `datastore ${s}`),
    ...(setup.migration.length > 0 ? [`migrate ${setup.migration.join(' ')}`] : []),
    ...setup.reload.map((s) => `reload ${s}`),
    ...setup.stateDirs.map((d) => `state-dir ${d.uid ?? '-'} ${d.path}`),
    ...setup.mountpoints.map((m) => `mountpoint ${m}`),
    ...setup.required.map((r) => `require ${r}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The owner list and host setup files for a bundle; none when it has no compose file. */
export const hostSetupFiles: BundleExtra = (env, files, _wanted, host) => {
  const compose = files.find((f) => f.path === COMPOSE_FILE);
  if (!compose) return [];
  const setup = hostSetupOf(compose.content, env, host);
  return [
    { path: SECRET_OWNERS_FILE, content: formatSecretOwners(setup), mode: 0o644, secret: false },
    { path: HOST_SETUP_FILE, content: formatHostSetup(setup), mode: 0o644, secret: false },
  ];
};
