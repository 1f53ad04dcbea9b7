import { defineCli } from '../../cli.js';
import { bundle, folder, oneOf, url } from '../kinds.js';

export const SPEC = defineCli({
  name: 'setup-monitoring.ts',
  summary:
    'Render the monitoring configs, validate them with promtool/amtool and the lint, install them (keeping a copy of every replaced file), reload Prometheus and Alertmanager and verify the reload; on any failure put the previous files back and reload again.',
  dryRun: true,
  envAlias: { option: 'environment', values: { production: 'prod', development: 'dev' } },
  options: {
    environment: { kind: oneOf(['production', 'development']), description: 'environment (same as --env prod|dev)' },
    prefix: { kind: folder, description: 'install under this root instead of / (default folders below)' },
    'prometheus-dir': { kind: folder, description: 'prometheus.yml goes here (default /etc/prometheus)' },
    'rules-dir': { kind: folder, description: 'rule files go here (default <prometheus-dir>/rules)' },
    'alertmanager-dir': { kind: folder, description: 'alertmanager.yml and templates (default /etc/alertmanager)' },
    'grafana-dir': { kind: folder, description: 'Grafana provisioning (default /etc/grafana/provisioning)' },
    'grafana-dashboards-dir': { kind: folder, description: 'dashboard JSON files (default /var/lib/grafana/dashboards)' },
    'prometheus-url': { kind: url, description: 'Prometheus to reload (default http://127.0.0.1:9090, dev :9091)' },
    'alertmanager-url': { kind: url, default: 'http://127.0.0.1:9093', description: 'Alertmanager to reload' },
    'backup-dir': { kind: folder, description: 'where replaced files are kept (default $STATE_DIR/monitoring-backups/<time>)' },
    bundle: { kind: bundle, description: 'install this rendered bundle instead of rendering now' },
  },
  relations: [{ oneOf: ['env', 'environment'] }],
  examples: [
    'npx tsx scripts/setup-monitoring.ts --environment production',
    'npx tsx scripts/setup-monitoring.ts --environment development --prefix /tmp/mon --dry-run',
  ],
});
