import { join, resolve } from 'node:path';
import type { LoadedEnv } from './env/load.js';
import type { Deriver } from './render/derived.js';

/**
 * Folders under STATE_DIR. They live outside the bundle because a render
 * replaces the bundle whole, and certificates, backups or the deploy lock
 * must survive that. A relative STATE_DIR is taken from the working directory.
 */
export interface StatePaths {
  root: string;
  /** Server certificate, key and CA certificate that nginx mounts read-only. */
  certs: string;
  /** Local CA private key: never mounted into a container. */
  ca: string;
  /** Webroot for ACME http-01 challenges (certbot writes, nginx serves). */
  acme: string;
  /** node_exporter textfile collector folder (backup and certificate metrics). */
  textfile: string;
  backups: string;
  /** Deploy lock, audit log and the previous-release state file (on the engine's host: deploy/store.ts). */
  deploy: string;
  /** The PostgreSQL cluster's TLS files: per db host (etcd, Patroni/PostgreSQL) and the CA certificate alone. */
  cluster: string;
}

export function statePaths(env: LoadedEnv): StatePaths {
  const root = resolve(env.values.STATE_DIR);
  return {
    root,
    certs: resolve(root, 'certs'),
    ca: resolve(root, 'ca'),
    acme: resolve(root, 'acme'),
    textfile: resolve(root, 'textfile'),
    // BACKUP_DIR lets backups live on their own disk.
    backups: env.values.BACKUP_DIR ? resolve(env.values.BACKUP_DIR) : resolve(root, 'backups'),
    deploy: resolve(root, 'deploy'),
    cluster: resolve(root, 'cluster'),
  };
}

/** What each cluster TLS folder holds: the project CA certificate, the host's certificate and its key. */
export const CLUSTER_TLS_FILES = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;
/** The two certificates of a db host: its etcd member (peer and client TLS), and Patroni's REST API with PostgreSQL. */
export const CLUSTER_COMPONENTS = ['etcd', 'postgres'] as const;
export type ClusterComponent = (typeof CLUSTER_COMPONENTS)[number];

/** One db host's TLS folder for one component, mounted read-only into that container. */
export function clusterTlsDir(paths: StatePaths, host: string, component: ClusterComponent): string {
  return join(paths.cluster, 'tls', host, component);
}

/** The CA certificate alone (ca.pem): what HAProxy and Prometheus need to verify the members. */
export function clusterCaDir(paths: StatePaths): string {
  return join(paths.cluster, 'ca');
}

/** Absolute host paths for templates (compose bind mounts). */
export const deriveStatePaths: Deriver = (env) => {
  const paths = statePaths(env);
  return {
    values: {
      STATE_DIR_ABS: paths.root,
      CERTS_DIR: paths.certs,
      ACME_WEBROOT_DIR: paths.acme,
      TEXTFILE_DIR: paths.textfile,
      BACKUPS_DIR: paths.backups,
    },
  };
};
