import { SPEC } from './lib/cli/specs/rebuild-db-host.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { localRunner } = await import('./lib/pgbackrest/command.js');
  const { rebuildDbHost, rebuildPlan, repoComposeRunner } = await import('./lib/pgbackrest/rebuild.js');
  const { pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
  const { restoreTarget } = await import('./lib/pgbackrest/target.js');
  // Every archived WAL unless told otherwise (--to and --immediate exclude each other and --latest).
  const target = restoreTarget({ to: args.values.to, immediate: args.values.immediate });
  const env = envFromCli(args, 'apply');
  const settings = pgbackrestSettings(env);
  const options = { target, timeoutSeconds: args.values.timeout, database: env.values.POSTGRES_DB, user: env.values.POSTGRES_USER };
  if (args.dryRun) {
    for (const step of await rebuildPlan(settings, options)) log.out(step);
    return;
  }
  const repo = args.values['repo-local'] ? localRunner('repo') : await repoComposeRunner(settings);
  const result = await rebuildDbHost(settings, { ...options, repo });
  for (const [table, count] of Object.entries(result.counts)) log.out(`${table} ${count} rows`);
  log.out(`rebuilt the database host in ${result.seconds.toFixed(1)} s; the stack is starting on it`);
});
