import { join } from 'node:path';
import { statePaths } from '../paths.js';
import { repoRoot } from '../render/bundle.js';
import type { Deriver } from '../render/derived.js';

/** Template values the backup area computes from the env (cron and systemd units, the WAL archive mount). */
export const deriveBackup: Deriver = (env) => {
  const paths = statePaths(env);
  return {
    values: {
      // The checkout cron and systemd run the backup scripts from.
      BACKUP_REPO_DIR: repoRoot(),
      BACKUP_LOG_DIR: join(paths.root, 'log'),
      // Host side of POSTGRES_WAL_ARCHIVE_DIR: compose mounts it into the postgres container.
      WAL_ARCHIVE_HOST_DIR: join(paths.backups, 'wal'),
    },
  };
};
