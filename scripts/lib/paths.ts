import { resolve } from 'node:path';
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
  };
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
