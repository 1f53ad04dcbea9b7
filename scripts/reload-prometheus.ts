import { SPEC } from './lib/cli/specs/reload-prometheus.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';
import type { ReloadTarget } from './lib/monitoring/reload.js';

await runCli(SPEC, async (args) => {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { alertmanagerTarget, prometheusTarget, reloadAndVerify } = await import('./lib/monitoring/reload.js');
  const env = envFromCli(args, 'plan');
  const targets: ReloadTarget[] = [prometheusTarget(args.values.url ?? `http://127.0.0.1:${env.name === 'dev' ? 9091 : 9090}`)];
  if (args.values['alertmanager-url']) targets.push(alertmanagerTarget(args.values['alertmanager-url']));
  for (const target of targets) {
    if (args.dryRun) {
      log.out(`POST ${target.url.replace(/\/+$/, '')}/-/reload and verify ${target.successMetric} = 1 and ${target.timestampMetric} advanced`);
      continue;
    }
    await reloadAndVerify(target);
    log.out(`${target.name} at ${target.url} reloaded; ${target.successMetric} = 1`);
  }
});
