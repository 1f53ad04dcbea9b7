import { join } from 'node:path';
import { SPEC } from './lib/cli/specs/setup-monitoring.js';
import { type CliArgs, runCli } from './lib/cli.js';
import { log } from './lib/log.js';
import type { InstallTargets } from './lib/monitoring/install.js';
import type { SetupOptions } from './lib/monitoring/setup.js';

async function targetsFrom(values: CliArgs<NonNullable<(typeof SPEC)['options']>>['values']): Promise<InstallTargets> {
  const { defaultTargets } = await import('./lib/monitoring/install.js');
  const defaults = defaultTargets(values.prefix ?? '/');
  const prometheusDir = values['prometheus-dir'] ?? defaults.prometheusDir;
  return {
    prometheusDir,
    rulesDir: values['rules-dir'] ?? (values['prometheus-dir'] === undefined ? defaults.rulesDir : join(prometheusDir, 'rules')),
    alertmanagerDir: values['alertmanager-dir'] ?? defaults.alertmanagerDir,
    grafanaProvisioningDir: values['grafana-dir'] ?? defaults.grafanaProvisioningDir,
    grafanaDashboardsDir: values['grafana-dashboards-dir'] ?? defaults.grafanaDashboardsDir,
  };
}

await runCli(SPEC, async (args) => {
  // Every area's template derivers, registered with render.
  await import('./lib/derivers.js');
  const { privateTempDir } = await import('./lib/cleanup.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { describePlan, installAndReload, isMonitoringFile, monitoringOnly, setupPlan, validateBundle } = await import('./lib/monitoring/setup.js');
  const { MONITORING_DIR } = await import('./lib/monitoring/validate.js');
  const { statePaths } = await import('./lib/paths.js');
  const { planBundle, repoRoot, writeBundle } = await import('./lib/render/bundle.js');
  // --environment production is --env prod (the spec resolves it).
  const env = envFromCli(args, 'apply');
  let bundleDir = args.values.bundle;
  let removeScratch = (): void => undefined;
  if (bundleDir === undefined) {
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
      targets: await targetsFrom(args.values),
      backupDir: args.values['backup-dir'] ?? join(statePaths(env).root, 'monitoring-backups', stamp),
      prometheusUrl: args.values['prometheus-url'] ?? `http://127.0.0.1:${env.name === 'dev' ? 9091 : 9090}`,
      alertmanagerUrl: args.values['alertmanager-url'],
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
});
