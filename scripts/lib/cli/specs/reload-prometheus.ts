import { defineCli } from '../../cli.js';
import { url } from '../kinds.js';

export const SPEC = defineCli({
  name: 'reload-prometheus.ts',
  summary:
    'Reload Prometheus (and optionally Alertmanager) through POST /-/reload and verify the reload took: the success gauge is 1 and its timestamp advanced. Exit 1 with the reason otherwise (for cron or by hand).',
  dryRun: true,
  options: {
    url: { kind: url, description: 'Prometheus base URL (default http://127.0.0.1:9090, dev :9091)' },
    'alertmanager-url': { kind: url, description: 'also reload and verify this Alertmanager' },
  },
  examples: ['npx tsx scripts/reload-prometheus.ts --env prod', 'npx tsx scripts/reload-prometheus.ts --url http://127.0.0.1:9091'],
});
