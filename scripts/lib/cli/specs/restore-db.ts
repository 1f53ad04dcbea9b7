import { defineCli } from '../../cli.js';
import { existingFile, fileOrName, flag, int, pgDatabase } from '../kinds.js';

export const SPEC = defineCli({
  name: 'restore-db.ts',
  summary:
    'List, verify or restore database backups made by backup-db.ts. The sha256 is checked (a new target database is restored meanwhile, and dropped again if it fails); encrypted backups need the age identity; the target must be empty unless --force.',
  dryRun: true,
  options: {
    list: { kind: flag, description: 'list backups: name, age, size, verified, encrypted' },
    latest: { kind: flag, description: 'use the newest verified backup of POSTGRES_DB' },
    file: { kind: fileOrName('the backup folder'), description: 'use this backup (a path, or a name in the backup folder)' },
    'target-db': { kind: pgDatabase, description: 'database to restore into (default: a new one named after the backup)' },
    force: { kind: flag, description: 'restore into a database that already holds tables (replaces the objects the dump has)' },
    identity: { kind: existingFile, description: 'age identity file that decrypts encrypted backups' },
    jobs: { kind: int(1, 99), default: '2', description: 'pg_restore parallel jobs' },
    verify: { kind: flag, description: 'only check the sha256 and read the whole dump with pg_restore; restore nothing' },
    'from-offsite': {
      kind: flag,
      description: 'list or use the copies on BACKUP_OFFSITE_REMOTE (downloaded in stream, sha256 checked) instead of BACKUP_DIR',
    },
  },
  relations: [
    { oneOf: ['list', 'file', 'latest'], required: 'say which backup to use: --latest or --file <file> (or --list to see them).' },
    { option: 'list', excludes: ['target-db', 'force', 'jobs', 'identity', 'verify'], why: '--list only lists' },
    { option: 'verify', excludes: ['target-db', 'force', 'jobs'], why: '--verify restores nothing' },
  ],
  examples: [
    'npx tsx scripts/restore-db.ts --env prod --list',
    'npx tsx scripts/restore-db.ts --env prod --latest --identity ~/backup-identity.txt',
    'npx tsx scripts/restore-db.ts --env prod --from-offsite --latest --identity ~/backup-identity.txt',
    'npx tsx scripts/restore-db.ts --env prod --file healthmate-20261231T020000Z.dump.age --identity id.txt --target-db healthmate --force',
  ],
});
