import { v } from '../spec.js';

/** Database and configuration backups. */
export const backupVars = {
  BACKUP_DIR: v.str({
    description: 'Folder for database dumps, base backups, the WAL archive and config tarballs (empty: <STATE_DIR>/backups).',
    pattern: /^[^\s@]*$/,
    patternHint: 'must be a path without spaces',
    default: '',
  }),
  BACKUP_DB_HOST: v.str({
    description: 'PostgreSQL host (or unix socket folder) that backup-db.ts and restore-db.ts reach without --compose.',
    pattern: /^[^\s@]+$/,
    patternHint: 'must be a host name, an IP address or a socket folder',
    default: '127.0.0.1',
  }),
  BACKUP_DB_PORT: v.port({ description: 'PostgreSQL port the backup host reaches without --compose.', default: '5432' }),
  BACKUP_KEEP_DAYS: v.int({ description: 'Keep the newest backup of each of this many recent days.', min: 0, max: 3650, default: '7' }),
  BACKUP_KEEP_WEEKS: v.int({ description: 'Keep the newest backup of each of this many recent ISO weeks.', min: 0, max: 520, default: '4' }),
  BACKUP_KEEP_MONTHS: v.int({ description: 'Keep the newest backup of each of this many recent months.', min: 0, max: 240, default: '6' }),
  BACKUP_COMPRESSION_LEVEL: v.int({
    description: 'pg_dump -Z level (gzip on PostgreSQL 15): 1 is about 3x faster than 6 for about 10% larger files.',
    min: 0,
    max: 9,
    default: '1',
  }),
  BACKUP_AGE_RECIPIENTS_FILE: v.str({
    description: 'File of age recipients (age1..., one a line) that backups are encrypted to; empty means unencrypted (refused in prod).',
    pattern: /^[^\s@]*$/,
    patternHint: 'must be a path without spaces',
    default: { dev: '' },
    example: '/etc/healthmate/backup-recipients.txt',
  }),
  BACKUP_SPACE_FACTOR: v.str({
    description: 'A backup starts only when the target has at least the database size times this factor free.',
    pattern: /^\d+(\.\d+)?$/,
    patternHint: 'must be a number such as 0.5 or 1',
    default: '1',
  }),
  BACKUP_CONFIG_KEEP: v.int({ description: 'Number of config tarballs backup-config.ts keeps.', min: 1, max: 1000, default: '8' }),
  BACKUP_OFFSITE_REMOTE: v.str({
    description:
      'rclone remote and path every verified dump and config tarball is copied to (3-2-1), e.g. offsite:healthmate/prod; define the remote with RCLONE_CONFIG_<NAME>_* lines or BACKUP_OFFSITE_RCLONE_CONFIG; empty = no offsite copy (check.ts warns in prod).',
    pattern: /^$|^[A-Za-z0-9_][A-Za-z0-9_-]*:[^\s'"\\]*$/,
    patternHint: 'must be a named rclone remote and a path, like offsite:healthmate/prod (no inline :backend,option=... remotes: they can carry secrets)',
    default: { dev: '', prod: 'offsite:healthmate/prod' },
  }),
  BACKUP_OFFSITE_RCLONE_CONFIG: v.str({
    description:
      'rclone.conf defining the offsite remote (0600; empty: the remote comes only from RCLONE_CONFIG_<NAME>_* variables). Credentials stay in files it names (key_file, shared_credentials_file).',
    pattern: /^$|^\/[^\s@]*$/,
    patternHint: 'must be an absolute path without spaces',
    default: '',
  }),
  POSTGRES_WAL_ARCHIVE_DIR: v.str({
    description: 'WAL archive folder as the PostgreSQL server sees it (compose mounts <BACKUP_DIR>/wal there).',
    pattern: /^\/[^\s@']*$/,
    patternHint: 'must be an absolute path without spaces or quotes',
    default: '/var/lib/postgresql/wal-archive',
  }),
};
