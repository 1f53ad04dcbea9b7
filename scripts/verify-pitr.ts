import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'verify-pitr.ts',
    summary:
      'Check the pgBackRest repository: `pgbackrest verify` reads every backup file and WAL segment against its recorded checksum (on the repository host), then `pgbackrest info --output=json` becomes node_exporter textfile metrics (<STATE_DIR>/textfile/healthmate_pgbackrest.prom). --metrics-only refreshes the metrics from the database host.',
    dryRun: true,
    options: {
      'metrics-only': { type: 'boolean', description: 'skip verify; read info through the database side (run every few minutes where node_exporter runs)' },
      local: { type: 'boolean', description: 'run the pgbackrest binary of this host instead of the compose service' },
    },
    examples: ['npx tsx scripts/verify-pitr.ts --env prod', 'npx tsx scripts/verify-pitr.ts --env prod --metrics-only'],
  },
  async (args) => {
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { refreshMetrics, runVerify, verifyPlan } = await import('./lib/pgbackrest/backup.js');
    const { classifyPgbackrestError } = await import('./lib/pgbackrest/command.js');
    const { stanzaProblem } = await import('./lib/pgbackrest/metrics.js');
    const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
    const env = envFromCli(args, 'apply');
    const settings = pgbackrestSettings(env);
    const local = args.values.local === true;
    const metricsOnly = args.values['metrics-only'] === true;
    if (args.dryRun) {
      for (const step of verifyPlan(settings, await pgbackrestRunner(settings, metricsOnly ? 'db' : 'repo', local), metricsOnly)) log.out(step);
      return;
    }
    if (metricsOnly) {
      const runner = await pgbackrestRunner(settings, 'db', local);
      const stanzas = await refreshMetrics(settings, runner);
      // info exits 0 even when it cannot reach or decrypt the repository; the status says so.
      // When pgBackRest cannot read the repository at all it names the stanza "[invalid]".
      const stanza = stanzas.find((s) => s.name === settings.stanza) ?? stanzas.find((s) => s.status.code !== 0);
      if (!stanza) throw new OperationError(`the repository has no stanza ${settings.stanza} yet: take a first backup with backup-db.ts --base.`);
      const problem = stanzaProblem(stanza);
      if (problem) throw classifyPgbackrestError(problem, runner.where, `stanza ${settings.stanza} is not ok`);
      log.out(`metrics for ${stanzas.map((s) => `${s.name} (${s.status.message}, ${s.backup.length} backups)`).join(', ') || 'no stanza'}`);
      return;
    }
    await runVerify(settings, await pgbackrestRunner(settings, 'repo', local));
    log.out(`pgbackrest verify: the repository of stanza ${settings.stanza} is intact`);
  },
);
