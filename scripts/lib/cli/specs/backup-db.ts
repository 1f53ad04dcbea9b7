import { defineCli } from '../../cli.js';
import { flag, oneOf } from '../kinds.js';

export const SPEC = defineCli({
  name: 'backup-db.ts',
  summary:
    'Dump the env database with pg_dump -Fc in one stream (sha256, optional age encryption, fsync, rename), verify it by a full read, write a manifest, apply retention and write node_exporter metrics. With --base: a pgBackRest physical backup (full, diff or incr) into the encrypted repository for point-in-time recovery.',
  dryRun: true,
  options: {
    compose: { kind: flag, description: 'run pg_dump inside the running stack (docker compose exec -T postgres): the deployed release, else dist/<env>' },
    'verify-restore': { kind: flag, description: 'also restore into a scratch database and compare row counts with the dump snapshot' },
    base: {
      kind: flag,
      description:
        'take a pgBackRest physical backup for point-in-time recovery instead of a dump (runs on the repository host: its compose service, or --local)',
    },
    type: { kind: oneOf(['full', 'diff', 'incr']), description: 'with --base: the pgBackRest backup type (default full)' },
    local: { kind: flag, description: 'with --base: run the pgbackrest binary of this host (a repository host with the Debian package)' },
    'no-offsite': { kind: flag, description: 'skip the copy to BACKUP_OFFSITE_REMOTE (the next run without it copies this backup too)' },
  },
  relations: [
    { oneOf: ['base', 'verify-restore'] },
    { oneOf: ['base', 'compose'] },
    { option: 'type', only: ['base'] },
    { option: 'local', only: ['base'] },
    { option: 'base', excludes: ['no-offsite'], why: 'only dumps are copied offsite by this script; pgBackRest keeps its own repository' },
  ],
  examples: [
    'npx tsx scripts/backup-db.ts --env prod',
    'npx tsx scripts/backup-db.ts --env prod --compose --verify-restore',
    'npx tsx scripts/backup-db.ts --env prod --dry-run',
    'npx tsx scripts/backup-db.ts --env prod --base --type diff',
  ],
});
