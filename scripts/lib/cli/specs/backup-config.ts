import { defineCli } from '../../cli.js';
import { bundle, flag } from '../kinds.js';

export const SPEC = defineCli({
  name: 'backup-config.ts',
  summary:
    'Archive the configuration (compose/, k8s/, nginx/, monitoring/, backups/ and the rendered bundle dist/<env>) into <BACKUP_DIR>/config as a verified tar.gz; the bundle secrets/ only when encrypted with age. Keeps BACKUP_CONFIG_KEEP archives.',
  dryRun: true,
  options: {
    'bundle-dir': {
      kind: bundle,
      default: (env) => `dist/${env}`,
      description: 'rendered bundle to include (the default is left out with a warning when not rendered yet)',
    },
    'no-offsite': { kind: flag, description: 'skip the copy to BACKUP_OFFSITE_REMOTE/config (the next run without it copies this archive too)' },
  },
  examples: ['npx tsx scripts/backup-config.ts --env prod', 'npx tsx scripts/backup-config.ts --env prod --dry-run'],
});
