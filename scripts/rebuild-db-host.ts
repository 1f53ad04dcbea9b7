import { runCli } from './lib/cli.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'rebuild-db-host.ts',
    summary:
      'Rebuild a LOST database host from the pgBackRest repository alone: a new empty data volume, pgbackrest restore (default --latest: every archived WAL), PostgreSQL replays and promotes, row counts printed, then the whole stack comes up on it. Run on the new database host with the deployed bundle.',
    dryRun: true,
    options: {
      to: { type: 'string', value: '<time>', description: 'stop at an RFC 3339 time instead of the end of the archive' },
      latest: { type: 'boolean', description: 'replay all archived WAL (the default)' },
      immediate: { type: 'boolean', description: 'stop at the end of the newest backup' },
      'repo-local': { type: 'boolean', description: 'the repository host pgbackrest for the version check is a local binary, not its compose service' },
      timeout: { type: 'string', value: '<seconds>', description: 'how long recovery may take before the rebuild fails (default 600)' },
    },
    examples: ['npx tsx scripts/rebuild-db-host.ts --env prod --dry-run', 'npx tsx scripts/rebuild-db-host.ts --env prod --latest'],
  },
  async (args) => {
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { localRunner } = await import('./lib/pgbackrest/command.js');
    const { rebuildDbHost, rebuildPlan, repoComposeRunner } = await import('./lib/pgbackrest/rebuild.js');
    const { pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
    const { restoreTarget } = await import('./lib/pgbackrest/target.js');
    const to = typeof args.values.to === 'string' ? args.values.to : undefined;
    const target = restoreTarget({
      to,
      latest: args.values.latest === true || (to === undefined && args.values.immediate !== true),
      immediate: args.values.immediate === true,
    });
    const timeoutRaw = args.values.timeout ?? '600';
    if (!/^\d+$/.test(String(timeoutRaw)) || Number(timeoutRaw) < 10)
      throw new BadInputError(`--timeout must be whole seconds, at least 10, not "${String(timeoutRaw)}".`);
    const env = envFromCli(args, 'apply');
    const settings = pgbackrestSettings(env);
    const options = { target, timeoutSeconds: Number(timeoutRaw), database: env.values.POSTGRES_DB, user: env.values.POSTGRES_USER };
    if (args.dryRun) {
      for (const step of await rebuildPlan(settings, options)) log.out(step);
      return;
    }
    const repo = args.values['repo-local'] === true ? localRunner('repo') : await repoComposeRunner(settings);
    const result = await rebuildDbHost(settings, { ...options, repo });
    for (const [table, count] of Object.entries(result.counts)) log.out(`${table} ${count} rows`);
    log.out(`rebuilt the database host in ${result.seconds.toFixed(1)} s; the stack is starting on it`);
  },
);
