import { defineCli } from '../../cli.js';
import { dateTime, flag, int } from '../kinds.js';

export const SPEC = defineCli({
  name: 'rebuild-db-host.ts',
  summary:
    'Rebuild a LOST database host from the pgBackRest repository alone: a new empty data volume, pgbackrest restore (default --latest: every archived WAL), PostgreSQL replays and promotes, row counts printed, then the whole stack comes up on it. Run on the new database host with the deployed bundle.',
  dryRun: true,
  options: {
    to: { kind: dateTime({ notFuture: true }), description: 'stop at this time instead of the end of the archive' },
    latest: { kind: flag, description: 'replay all archived WAL (the default)' },
    immediate: { kind: flag, description: 'stop at the end of the newest backup' },
    'repo-local': { kind: flag, description: 'the repository host pgbackrest for the version check is a local binary, not its compose service' },
    timeout: {
      kind: int(10, 86_400, 'seconds'),
      default: '600',
      value: '<seconds>',
      description: 'how long recovery, then the services the stack waits on (HAProxy…), may take before the rebuild fails',
    },
  },
  relations: [{ oneOf: ['to', 'latest', 'immediate'] }],
  examples: ['npx tsx scripts/rebuild-db-host.ts --env prod --dry-run', 'npx tsx scripts/rebuild-db-host.ts --env prod --latest'],
});
