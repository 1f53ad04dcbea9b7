import { defineCli } from '../../cli.js';
import { flag } from '../kinds.js';

export const SPEC = defineCli({
  name: 'verify-pitr.ts',
  summary:
    'Check the pgBackRest repository: `pgbackrest verify` reads every backup file and WAL segment against its recorded checksum (on the repository host), then `pgbackrest info --output=json` becomes node_exporter textfile metrics (<STATE_DIR>/textfile/healthmate_pgbackrest.prom). --metrics-only refreshes the metrics from the database host.',
  dryRun: true,
  options: {
    'metrics-only': { kind: flag, description: 'skip verify; read info through the database side (run every few minutes where node_exporter runs)' },
    local: { kind: flag, description: 'run the pgbackrest binary of this host instead of the compose service' },
  },
  examples: ['npx tsx scripts/verify-pitr.ts --env prod', 'npx tsx scripts/verify-pitr.ts --env prod --metrics-only'],
});
