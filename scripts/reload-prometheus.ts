import { runCli, urlOption } from './lib/cli.js';
import { log } from './lib/log.js';
import type { ReloadTarget } from './lib/monitoring/reload.js';

await runCli(
  {
    name: 'reload-prometheus.ts',
    summary:
      'Reload Prometheus (and optionally Alertmanager) through POST /-/reload and verify the reload took: the success gauge is 1 and its timestamp advanced. Exit 1 with the reason otherwise (for cron or by hand).',
    dryRun: true,
    options: {
      url: { type: 'string', value: '<url>', description: 'Prometheus base URL (default http://127.0.0.1:9090, dev :9091)' },
      'alertmanager-url': { type: 'string', value: '<url>', description: 'also reload and verify this Alertmanager' },
    },
    examples: ['npx tsx scripts/reload-prometheus.ts --env prod', 'npx tsx scripts/reload-prometheus.ts --url http://127.0.0.1:9091'],
  },
  async (args) => {
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { alertmanagerTarget, prometheusTarget, reloadAndVerify } = await import('./lib/monitoring/reload.js');
    const url = urlOption(args, 'url');
    const alertmanagerUrl = urlOption(args, 'alertmanager-url');
    const env = envFromCli(args, 'plan');
    const targets: ReloadTarget[] = [prometheusTarget(url ?? `http://127.0.0.1:${env.name === 'dev' ? 9091 : 9090}`)];
    if (alertmanagerUrl) targets.push(alertmanagerTarget(alertmanagerUrl));
    for (const target of targets) {
      if (args.dryRun) {
        log.out(`POST ${target.url.replace(/\/+$/, '')}/-/reload and verify ${target.successMetric} = 1 and ${target.timestampMetric} advanced`);
        continue;
      }
      await reloadAndVerify(target);
      log.out(`${target.name} at ${target.url} reloaded; ${target.successMetric} = 1`);
    }
  },
);
