import { join } from 'node:path';
import type { InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { statePaths } from '../paths.js';
import { PGBACKREST_CONTAINER_PATHS, pgbackrestDbNames, pgbackrestDbPublishAddress, pgbackrestImages, pgbackrestTlsDir } from '../pgbackrest/layout.js';
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
      PGBACKREST_REPO_PG_HOSTS: repoPgHostLines(pgbackrestDbNames(env), { ...env.values, ...PGBACKREST_CONTAINER_PATHS }),
    },
    secretFiles,
  };
};

/** A host's own backup values: the compose port line of its pgBackRest server (IPv6 in brackets). */
export function backupHostValues(env: LoadedEnv, host: InventoryHost): Record<string, string> {
  const address = pgbackrestDbPublishAddress(env, host);
  const port = env.values.PGBACKREST_DB_PORT;
  return { PGBACKREST_DB_PUBLISH: `${address.includes(':') ? `[${address}]` : address}:${port}:${port}` };
}

/**
 * The repository host's pgN-* lines: one block per db host's pgBackRest server (`names`), the same
 * paths on each (the same image), taken from `values` as the template names them.
 */
export function repoPgHostLines(names: string[], values: Record<string, unknown>): string {
  const v = (name: string) => String(values[name]);
  return names
    .map((name, i) =>
      [
        `pg${i + 1}-host=${name}`,
        `pg${i + 1}-host-type=tls`,
        `pg${i + 1}-host-port=${v('PGBACKREST_DB_PORT')}`,
        `pg${i + 1}-host-ca-file=${v('PGBACKREST_TLS_PATH')}/ca.pem`,
        `pg${i + 1}-host-cert-file=${v('PGBACKREST_TLS_PATH')}/cert.pem`,
        `pg${i + 1}-host-key-file=${v('PGBACKREST_TLS_PATH')}/key.pem`,
        `pg${i + 1}-path=${v('PGBACKREST_PG_PATH')}`,
        `pg${i + 1}-socket-path=${v('PGBACKREST_PG_SOCKET_PATH')}`,
        `pg${i + 1}-port=${v('PGBACKREST_PG_PORT')}`,
        `pg${i + 1}-user=${v('POSTGRES_USER')}`,
      ].join('\n'),
    )
    .join('\n');
}
