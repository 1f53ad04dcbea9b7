import { v } from '../spec.js';

/** Database and configuration backups. */
export const backupVars = {
  BACKUP_DIR: v.hostPath({
    description:
      'Folder for database dumps and config tarballs (empty: <STATE_DIR>/backups; absolute in prod); physical backups and WAL live in the pgBackRest repository.',
    optional: true,
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
    // No `..` segment: retention deletes in that folder, so it must be the one named, not a parent.
    pattern: /^$|^[A-Za-z0-9_][A-Za-z0-9_-]*:(?!(?:.*\/)?\.\.(?:\/|$))[^\s'"\\]*$/,
    patternHint:
      'must be a named rclone remote and a path without .. segments, like offsite:healthmate/prod (no inline :backend,option=... remotes: they can carry secrets)',
    default: { dev: '', prod: 'offsite:healthmate/prod' },
  }),
  BACKUP_OFFSITE_RCLONE_CONFIG: v.str({
    description:
      'rclone.conf defining the offsite remote (0600; empty: the remote comes only from RCLONE_CONFIG_<NAME>_* variables). Credentials stay in files it names (key_file, shared_credentials_file).',
    pattern: /^$|^\/[^\s@]*$/,
    patternHint: 'must be an absolute path without spaces',
    default: '',
  }),
  BACKUP_OFFSITE_IDLE_TIMEOUT: v.int({
    description:
      'Seconds an offsite transfer may go without a byte before rclone gives up on that try (its --timeout); two tries, so a remote that accepts and never answers fails the run after about twice this. Raise it for a remote that is slow to start answering.',
    min: 5,
    max: 3600,
    default: '30',
  }),
  // pgBackRest: physical backups and the WAL archive, on a repository host reached over mutual TLS (docs/backup-restore.md).
  PGBACKREST_STANZA: v.str({
    description: 'pgBackRest stanza name of the production cluster (both hosts use it).',
    pattern: /^[a-z][a-z0-9_-]{0,62}$/,
    patternHint: 'must be lowercase letters, digits, _ or -, starting with a letter',
    default: 'healthmate',
  }),
  PGBACKREST_TOPOLOGY: v.oneOf(['repository-host', 'single-host'] as const, {
    description:
      'repository-host: the pgBackRest repository lives on another machine (offsite from the database); single-host: on a second disk of the database host (not offsite).',
    default: { dev: 'single-host', prod: 'repository-host' },
  }),
  PGBACKREST_DB_HOST: v.domain({
    description:
      "DNS name of the database host's pgBackRest server: the repository host dials it and its certificate's CN. Not an IP (pgBackRest matches DNS names only).",
    default: 'pgbackrest-db',
  }),
  PGBACKREST_DB_PORT: v.port({ description: "TLS port of the database host's pgBackRest server.", default: '8432' }),
  PGBACKREST_DB_PUBLISH_ADDRESS: v.str({
    description:
      'Host address the database host publishes its pgBackRest port on for the repository host, when the inventory gives the host no address= (with one, each db host publishes on its own); 127.0.0.1 when both run on one machine.',
    pattern: /^[0-9a-f.:]+$/,
    patternHint: 'must be an IP address',
    default: '127.0.0.1',
  }),
  PGBACKREST_REPO_HOST: v.domain({
    description: "DNS name of the repository host's pgBackRest server: the database host dials it (archive-push, restore) and its certificate's CN.",
    default: 'pgbackrest-repo',
  }),
  PGBACKREST_REPO_PORT: v.port({ description: "TLS port of the repository host's pgBackRest server.", default: '8432' }),
  PGBACKREST_REPO_PUBLISH_ADDRESS: v.str({
    description:
      'Host address the repository host publishes its pgBackRest port on for the database host (its private-network address; 127.0.0.1 for a single host).',
    pattern: /^[0-9a-f.:]+$/,
    patternHint: 'must be an IP address',
    default: '127.0.0.1',
  }),
  PGBACKREST_REPO_DIR: v.hostPath({
    description: 'Host folder of the pgBackRest repository on the repository host (its own disk; empty: <BACKUP_DIR>/pgbackrest; absolute in prod).',
    optional: true,
    default: '',
  }),
  PGBACKREST_CIPHER_PASS: v.secret({
    description:
      'Passphrase of the aes-256-cbc encrypted repository; both hosts read it from secrets/pgbackrest_cipher.conf, never from a config or a command line.',
    default: { dev: 'dev-pgbackrest-cipher-passphrase' },
  }),
  PGBACKREST_RETENTION_FULL: v.int({
    description: 'Full backups kept (weekly fulls: 4 is about a month of point-in-time recovery).',
    min: 1,
    max: 100,
    default: '4',
  }),
  PGBACKREST_RETENTION_DIFF: v.int({ description: 'Differential backups kept (daily diffs).', min: 1, max: 100, default: '7' }),
  PGBACKREST_DEB_VERSION: v.str({
    description: 'Debian package version of pgbackrest installed on both hosts (the two must run the same pgBackRest).',
    pattern: /^\d+\.\d+-[\w.+~]+$/,
    patternHint: 'must be a Debian version such as 2.45-1',
    default: '2.45-1',
  }),
  PGBACKREST_REPO_BASE_IMAGE: v.image({
    description: 'Debian bookworm image the repository host container is built from (adds the pgbackrest package), pinned to a version tag.',
    default: 'debian:bookworm-20241111-slim',
  }),
};
