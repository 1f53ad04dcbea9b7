import { join, resolve } from 'node:path';
import { type CliArgs, runCli, urlOption } from './lib/cli.js';
import type { EnvName } from './lib/env/spec.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';
import type { InstallTargets } from './lib/monitoring/install.js';
import type { SetupOptions } from './lib/monitoring/setup.js';

const ENVIRONMENTS: Record<string, EnvName> = { production: 'prod', development: 'dev' };

function envName(args: CliArgs): EnvName {
  const environment = args.values.environment;
  if (environment === undefined) return args.env;
  const env = ENVIRONMENTS[String(environment)];
  if (!env) throw new BadInputError(`--environment must be production or development, not "${String(environment)}".`);
  if (args.values.env !== undefined && args.env !== env)
    throw new BadInputError(`--environment ${String(environment)} contradicts --env ${args.env}; pass one of them.`);
  return env;
}

async function targetsFrom(args: CliArgs): Promise<InstallTargets> {
  const { defaultTargets } = await import('./lib/monitoring/install.js');
  const defaults = defaultTargets(typeof args.values.prefix === 'string' ? args.values.prefix : '/');
  const pick = (flag: string, fallback: string): string => (typeof args.values[flag] === 'string' ? resolve(args.values[flag] as string) : fallback);
  const prometheusDir = pick('prometheus-dir', defaults.prometheusDir);
  return {
    prometheusDir,
    rulesDir: pick('rules-dir', args.values['prometheus-dir'] === undefined ? defaults.rulesDir : join(prometheusDir, 'rules')),
    alertmanagerDir: pick('alertmanager-dir', defaults.alertmanagerDir),
    grafanaProvisioningDir: pick('grafana-dir', defaults.grafanaProvisioningDir),
    grafanaDashboardsDir: pick('grafana-dashboards-dir', defaults.grafanaDashboardsDir),
  };
}

await runCli(
  {
    name: 'setup-monitoring.ts',
    summary:
      'Render the monitoring configs, validate them with promtool/amtool and the lint, install them (keeping a copy of every replaced file), reload Prometheus and Alertmanager and verify the reload; on any failure put the previous files back and reload again.',
    dryRun: true,
    options: {
      environment: { type: 'string', value: '<production|development>', description: 'environment (same as --env prod|dev)' },
      prefix: { type: 'string', value: '<dir>', description: 'install under this root instead of / (default folders below)' },
      'prometheus-dir': { type: 'string', value: '<dir>', description: 'prometheus.yml goes here (default /etc/prometheus)' },
      'rules-dir': { type: 'string', value: '<dir>', description: 'rule files go here (default <prometheus-dir>/rules)' },
      'alertmanager-dir': { type: 'string', value: '<dir>', description: 'alertmanager.yml and templates (default /etc/alertmanager)' },
      'grafana-dir': { type: 'string', value: '<dir>', description: 'Grafana provisioning (default /etc/grafana/provisioning)' },
      'grafana-dashboards-dir': { type: 'string', value: '<dir>', description: 'dashboard JSON files (default /var/lib/grafana/dashboards)' },
      'prometheus-url': { type: 'string', value: '<url>', description: 'Prometheus to reload (default http://127.0.0.1:9090, dev :9091)' },
      'alertmanager-url': { type: 'string', value: '<url>', description: 'Alertmanager to reload (default http://127.0.0.1:9093)' },
      'backup-dir': { type: 'string', value: '<dir>', description: 'where replaced files are kept (default $STATE_DIR/monitoring-backups/<time>)' },
      bundle: { type: 'string', value: '<dir>', description: 'install this rendered bundle instead of rendering now' },
    },
    examples: [
      'npx tsx scripts/setup-monitoring.ts --environment production',
      'npx tsx scripts/setup-monitoring.ts --environment development --prefix /tmp/mon --dry-run',
    ],
  },
  async (args) => {
    // Every area's template derivers, registered with render.
    await import('./lib/derivers.js');
    const { privateTempDir } = await import('./lib/cleanup.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { describePlan, installAndReload, isMonitoringFile, monitoringOnly, setupPlan, validateBundle } = await import('./lib/monitoring/setup.js');
    const { MONITORING_DIR } = await import('./lib/monitoring/validate.js');
    const { statePaths } = await import('./lib/paths.js');
    const { planBundle, repoRoot, writeBundle } = await import('./lib/render/bundle.js');
    const { checkBundleFolder } = await import('./lib/render/bundle-env.js');
    const prometheusUrl = urlOption(args, 'prometheus-url');
    const alertmanagerUrl = urlOption(args, 'alertmanager-url', 'http://127.0.0.1:9093');
    const env = envFromCli({ ...args, env: envName(args) }, 'apply');
    let bundleDir: string;
    let removeScratch = (): void => undefined;
    if (typeof args.values.bundle === 'string') {
      bundleDir = resolve(args.values.bundle);
      checkBundleFolder(bundleDir, args.values.bundle, env.name);
    } else {
      // Only monitoring/ is rendered (no secrets at all); the registry removes it on every exit, even a kill -9.
      const bundle = monitoringOnly(planBundle(env, repoRoot(), isMonitoringFile));
      const scratch = privateTempDir('healthmate-monitoring-');
      removeScratch = scratch.remove;
      bundleDir = writeBundle(bundle, scratch.path);
    }
    try {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const options: SetupOptions = {
        bundleDir,
        repoMonitoringDir: join(repoRoot(), MONITORING_DIR),
        runbookFile: join(repoRoot(), 'docs', 'runbooks.md'),
        targets: await targetsFrom(args),
        backupDir: typeof args.values['backup-dir'] === 'string' ? resolve(args.values['backup-dir']) : join(statePaths(env).root, 'monitoring-backups', stamp),
        prometheusUrl: prometheusUrl ?? `http://127.0.0.1:${env.name === 'dev' ? 9091 : 9090}`,
        alertmanagerUrl,
      };
      if (args.dryRun) {
        for (const line of describePlan(setupPlan(options), bundleDir, options.backupDir)) log.out(line);
        return;
      }
      log.info(`validating the ${env.name} monitoring configuration`);
      await validateBundle(options);
      const record = await installAndReload(setupPlan(options), options.backupDir);
      log.out(
        `monitoring installed: ${record.changed.length} files changed, ${record.unchanged} unchanged${record.changed.some((c) => c.backup) ? `; previous files in ${options.backupDir}` : ''}`,
      );
    } finally {
      removeScratch();
    }
  },
);
