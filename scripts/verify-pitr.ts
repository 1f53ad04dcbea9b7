import { SPEC } from './lib/cli/specs/verify-pitr.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { refreshMetrics, runVerify, verifyPlan } = await import('./lib/pgbackrest/backup.js');
  const { classifyPgbackrestError } = await import('./lib/pgbackrest/command.js');
  const { stanzaProblem } = await import('./lib/pgbackrest/metrics.js');
  const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
  const env = envFromCli(args, 'apply');
  const settings = pgbackrestSettings(env);
  const { local } = args.values;
  const metricsOnly = args.values['metrics-only'];
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
});
