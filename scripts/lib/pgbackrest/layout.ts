import { join } from 'node:path';
import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import type { StatePaths } from '../paths.js';

/** Paths inside the pgBackRest containers (both images), as the rendered pgbackrest.conf files name them. */
export const PGBACKREST_CONTAINER_PATHS = {
  PGBACKREST_TLS_PATH: '/etc/pgbackrest/tls',
  PGBACKREST_REPO_PATH: '/var/lib/pgbackrest',
  PGBACKREST_SPOOL_PATH: '/var/spool/pgbackrest',
  PGBACKREST_LOG_PATH: '/var/log/pgbackrest',
  PGBACKREST_LOCK_PATH: '/tmp/pgbackrest',
  PGBACKREST_PG_PATH: '/var/lib/postgresql/data/pgdata',
  PGBACKREST_PG_SOCKET_PATH: '/var/run/postgresql',
  PGBACKREST_PG_PORT: '5432',
} as const;

/** Files of one host's TLS folder, mounted read-only at PGBACKREST_TLS_PATH. */
export const PGBACKREST_TLS_FILES = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

/** Host folder of one side's TLS files (ca.pem, cert.pem, key.pem), mounted read-only at PGBACKREST_TLS_PATH. */
export function pgbackrestTlsDir(paths: StatePaths, role: 'db' | 'repo'): string {
  return join(paths.root, 'pgbackrest', 'tls', role);
}

/**
 * Local image tags: the pinned PostgreSQL image plus Debian's pgbackrest and patroni, and the
 * repository host image; both carry the same pgbackrest version. The tag names every package
 * version, so a changed one builds a new image instead of reusing the old.
 */
export function pgbackrestImages(values: Pick<LoadedEnv['values'], 'POSTGRES_IMAGE' | 'PGBACKREST_DEB_VERSION' | 'PATRONI_DEB_VERSION'>): {
  db: string;
  repo: string;
} {
  const postgresTag = values.POSTGRES_IMAGE.split(':').pop() as string;
  const version = values.PGBACKREST_DEB_VERSION;
  return { db: `healthmate-postgres:${postgresTag}-pgbackrest${version}-patroni${values.PATRONI_DEB_VERSION}`, repo: `healthmate-pgbackrest:${version}` };
}

/**
 * The DNS name of each db host's pgBackRest server, in inventory order: the repository host dials
 * them (pg1-host, pg2-host, …) and asks each whether it is the primary. One db host: PGBACKREST_DB_HOST
 * itself; several: <host>.<PGBACKREST_DB_HOST>, each resolving to that host (DNS or /etc/hosts on the
 * repository host). All are names of the one database-side certificate (CN PGBACKREST_DB_HOST).
 */
export function pgbackrestDbNames(env: Pick<LoadedEnv, 'inventory' | 'values'>): string[] {
  const hosts = dbHosts(env.inventory);
  const base = env.values.PGBACKREST_DB_HOST;
  return hosts.length <= 1 ? [base] : hosts.map((h) => `${h.name}.${base}`);
}

/**
 * The host address a db host publishes its pgBackRest server on, for the repository host (another
 * machine) to dial: the host's inventory address when it has one (each host its own), else
 * PGBACKREST_DB_PUBLISH_ADDRESS (loopback for one machine).
 */
export function pgbackrestDbPublishAddress(env: Pick<LoadedEnv, 'values'>, host: Pick<InventoryHost, 'address' | 'roles'>): string {
  return host.address && host.roles.includes('db') ? host.address : env.values.PGBACKREST_DB_PUBLISH_ADDRESS;
}
