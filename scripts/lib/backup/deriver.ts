import { join } from 'node:path';
import { statePaths } from '../paths.js';
import { PGBACKREST_CONTAINER_PATHS, pgbackrestImages, pgbackrestTlsDir } from '../pgbackrest/layout.js';
import { repoRoot } from '../render/bundle.js';
import type { Deriver } from '../render/derived.js';

/** Template values the backup area computes from the env (cron and systemd units, pgBackRest configs and mounts). */
export const deriveBackup: Deriver = (env) => {
  const paths = statePaths(env);
  const images = pgbackrestImages(env.values);
  const secretFiles: Record<string, string> = {};
  const pass = env.secrets.PGBACKREST_CIPHER_PASS;
  // An include file pgBackRest reads from its config-include-path: the passphrase never sits in a rendered config.
  if (pass !== undefined) secretFiles['pgbackrest_cipher.conf'] = `[global]\nrepo1-cipher-pass=${pass}\n`;
  return {
    values: {
      // The checkout cron and systemd run the backup scripts from.
      BACKUP_REPO_DIR: repoRoot(),
      BACKUP_LOG_DIR: join(paths.root, 'log'),
      PGBACKREST_DB_TLS_DIR: pgbackrestTlsDir(paths, 'db'),
      PGBACKREST_REPO_TLS_DIR: pgbackrestTlsDir(paths, 'repo'),
      PGBACKREST_REPO_HOST_DIR: env.values.PGBACKREST_REPO_DIR || join(paths.backups, 'pgbackrest'),
      POSTGRES_PGBACKREST_IMAGE: images.db,
      PGBACKREST_REPO_IMAGE: images.repo,
      ...PGBACKREST_CONTAINER_PATHS,
    },
    secretFiles,
  };
};
