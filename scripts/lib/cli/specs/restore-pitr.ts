import { defineCli } from '../../cli.js';
import { dateTime, flag, folder, name } from '../kinds.js';

export const SPEC = defineCli({
  name: 'restore-pitr.ts',
  summary:
    'Point-in-time recovery with pgBackRest: restore the encrypted repository into a NEW data folder (--local --target-dir) or a new docker volume (--volume), stopping at --to <time>, at the end of the archive (--latest) or at the end of the backup (--immediate). Start PostgreSQL on it: it replays WAL from the repository host and promotes.',
  dryRun: true,
  options: {
    to: { kind: dateTime({ notFuture: true }), description: 'recovery target, e.g. 2026-12-31T14:05:00Z' },
    latest: { kind: flag, description: 'replay all archived WAL (a lost host: recover everything)' },
    immediate: { kind: flag, description: 'stop as soon as the backup is consistent' },
    delta: { kind: flag, description: 'restore over an existing, stopped data folder or volume, keeping files that match' },
    local: { kind: flag, description: 'run the pgbackrest binary of this host (database host with the Debian package)' },
    'target-dir': { kind: folder, description: 'with --local: the data folder to restore into (new or empty; existing with --delta)' },
    volume: {
      kind: name('<name>', /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$/, 'a docker volume name (letters, digits, _ . -)'),
      description: 'without --local: the docker volume to restore into (created; existing with --delta)',
    },
  },
  relations: [
    {
      oneOf: ['to', 'latest', 'immediate'],
      required: 'say where recovery stops: --to <time>, --latest (all archived WAL) or --immediate (the end of the backup).',
    },
    { option: 'target-dir', only: ['local'], why: 'through the engine, restore into --volume' },
    { oneOf: ['volume', 'local'], required: 'say where to restore: --volume <name> (through the engine) or --local --target-dir <dir>.' },
    { option: 'local', needs: ['target-dir'], why: 'the data folder to restore into' },
  ],
  examples: [
    'npx tsx scripts/restore-pitr.ts --env prod --to 2026-12-31T14:05:00Z --volume healthmate_pitr_20261231',
    'npx tsx scripts/restore-pitr.ts --env prod --latest --local --target-dir /var/lib/postgresql/15/pitr',
  ],
});
