import { join } from 'node:path';
import { pathState } from '../cli/kinds.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { statePaths } from '../paths.js';
import type { PgConnection } from './pg.js';
import type { RetentionPolicy } from './retention.js';

/** Everything the backup scripts take from the env, resolved once. */
export interface BackupSettings {
  envName: string;
  /** Database dumps and their manifests. */
  dir: string;
  configDir: string;
  textfileDir: string;
  connection: PgConnection;
  compressionLevel: number;
  /** Empty when backups are not encrypted. */
  recipientsFile: string;
  spaceFactor: number;
  retention: RetentionPolicy;
  configKeep: number;
}

export function backupSettings(env: LoadedEnv): BackupSettings {
  const paths = statePaths(env);
  const values = env.values;
  // Checked here, so a dry run refuses the folder the real run could not create.
  const state = pathState(paths.backups);
  if (state.type === 'file' || state.type === 'blocked')
    throw new BadInputError(
      `${values.BACKUP_DIR ? 'BACKUP_DIR' : 'the backup folder'} ${paths.backups} ${state.type === 'file' ? 'is a file' : `is below ${state.by}, which is a file`}, not a folder.`,
      'point BACKUP_DIR at a folder (it is created when missing)',
    );
  return {
    envName: env.name,
    dir: paths.backups,
    configDir: join(paths.backups, 'config'),
    textfileDir: paths.textfile,
    connection: {
      host: values.BACKUP_DB_HOST,
      port: values.BACKUP_DB_PORT,
      user: values.POSTGRES_USER,
      password: env.secrets.POSTGRES_PASSWORD ?? '',
      database: values.POSTGRES_DB,
    },
    compressionLevel: values.BACKUP_COMPRESSION_LEVEL,
    recipientsFile: values.BACKUP_AGE_RECIPIENTS_FILE,
    spaceFactor: Number(values.BACKUP_SPACE_FACTOR),
    retention: { days: values.BACKUP_KEEP_DAYS, weeks: values.BACKUP_KEEP_WEEKS, months: values.BACKUP_KEEP_MONTHS },
    configKeep: values.BACKUP_CONFIG_KEEP,
  };
}
