import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metricCatalog } from '../../scripts/lib/monitoring/catalog.js';
import { lintDashboard } from '../../scripts/lib/monitoring/dashboard-lint.js';
import { parsePromql } from '../../scripts/lib/monitoring/promql.js';
import { ruleFilesIn } from '../../scripts/lib/monitoring/validate.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

const MONITORING = join(REPO, 'monitoring');
const DASHBOARDS = {
  prod: join(MONITORING, 'grafana', 'prod', 'dashboards', 'healthmate-overview.json'),
  dev: join(MONITORING, 'grafana', 'dev', 'dashboards', 'healthmate-dev-overview.json'),
};
const catalog = () => metricCatalog(MONITORING, ruleFilesIn(MONITORING));

function lintEdited(source: string, edit: (text: string) => string): string[] {
  const file = join(tempDir(), 'dashboard.json');
  writeFileSync(file, edit(readFileSync(source, 'utf8')));
  return lintDashboard(file, catalog(), 'dashboard.json').map((p) => p.message);
}

describe('Grafana dashboards', () => {
  it.each(Object.entries(DASHBOARDS))('%s dashboard passes the lint (uid, datasource variable, units, PromQL, known metrics)', (_env, file) => {
    expect(lintDashboard(file, catalog())).toEqual([]);
  });

  it('the prod overview shows what the issue lists', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARDS.prod, 'utf8')) as { uid: string; panels: { title: string; targets?: { expr: string }[] }[] };
    expect(dashboard.uid).toBe('healthmate-overview');
    const metrics = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => [...parsePromql(t.expr).metrics])));
    for (const metric of [
      'up',
      'healthmate_http_requests_total',
      'healthmate_http_request_duration_seconds_bucket',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'pg_stat_activity_count',
      'pg_stat_database_xact_commit',
      'pg_stat_database_blks_hit',
      'redis_memory_used_bytes',
      'redis_connected_clients',
      'redis_keyspace_hits_total',
      'healthmate_active_users',
      'healthmate_health_data_points_ingested_total',
      'healthmate_backup_last_success_timestamp_seconds',
      'healthmate_certificate_expiry_timestamp_seconds',
      'probe_ssl_earliest_cert_expiry',
      'patroni_primary',
      'patroni_sync_standby',
      'patroni_xlog_replayed_location',
      'etcd_server_has_leader',
      'haproxy_backend_active_servers',
    ])
      expect(metrics).toContain(metric);
  });

  it('refuses a query naming an unknown metric', () => {
    expect(lintEdited(DASHBOARDS.dev, (t) => t.replace('sum(healthmate_db_pool_connections_in_use)', 'sum(healthmate_db_pool_in_use)'))).toEqual([
      'panel "Database connections" query A: metric healthmate_db_pool_in_use is not in metrics-contract.yml, exporter-metrics.yml or a recording rule.',
    ]);
  });

  it('refuses a query that does not parse', () => {
    const messages = lintEdited(DASHBOARDS.dev, (t) => t.replace('sum(up{job=\\"backend\\"})', 'sum(up{job=\\"backend\\"}'));
    expect(messages).toEqual([expect.stringMatching(/^panel "Backend replicas up" query A: does not parse as PromQL: syntax error/)]);
  });

  it('refuses a fixed rate() range, a missing unit, a missing datasource variable and a missing uid', () => {
    const messages = lintEdited(DASHBOARDS.dev, (t) => {
      const d = JSON.parse(t.replace('rate(healthmate_celery_tasks_total[$__rate_interval])', 'rate(healthmate_celery_tasks_total[5m])'));
      d.uid = undefined;
      d.templating.list = [];
      d.panels[0].fieldConfig.defaults.unit = undefined;
      return JSON.stringify(d);
    });
    expect(messages).toEqual([
      'needs a fixed uid (lowercase, at most 40 characters).',
      'needs a template variable "datasource" of type datasource.',
      'panel "Backend replicas up": set a unit (fieldConfig.defaults.unit).',
      'panel "Celery tasks by outcome" query A: use [$__rate_interval] in rate()/increase(), not a fixed range.',
    ]);
  });
});
