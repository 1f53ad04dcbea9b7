import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PgRunner } from './lib/backup/pg.js';
import type { BackupSettings } from './lib/backup/settings.js';
import { type CliArgs, runCli } from './lib/cli.js';
import type { LoadedEnv } from './lib/env/load.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

async function runner(args: CliArgs, env: LoadedEnv, settings: BackupSettings): Promise<PgRunner> {
  const { composeRunner, directRunner } = await import('./lib/backup/pg.js');
  const { CURRENT_DIR } = await import('./lib/deploy/releases.js');
  const { statePaths } = await import('./lib/paths.js');
  if (!args.values.compose) return directRunner(settings.connection);
  // The stack runs from the deploy's stable folder; a bundle only rendered (never deployed) is the fallback.
  const deployed = join(statePaths(env).deploy, CURRENT_DIR, 'docker-compose.yml');
  const composeFile = existsSync(deployed) ? deployed : resolve('dist', args.env, 'docker-compose.yml');
  return composeRunner(settings.connection, composeFile, env.values.COMPOSE_PROJECT_NAME);
}

await runCli(
  {
    name: 'backup-db.ts',
    summary:
      'Dump the env database with pg_dump -Fc in one stream (sha256, optional age encryption, fsync, rename), verify it by a full read, write a manifest, apply retention and write node_exporter metrics. With --base: a pgBackRest physical backup (full, diff or incr) into the encrypted repository for point-in-time recovery.',
    dryRun: true,
    options: {
      compose: { type: 'boolean', description: 'run pg_dump inside the running stack (docker compose exec -T postgres) of dist/<env>' },
      'verify-restore': { type: 'boolean', description: 'also restore into a scratch database and compare row counts with the dump snapshot' },
      base: {
        type: 'boolean',
        description:
          'take a pgBackRest physical backup for point-in-time recovery instead of a dump (runs on the repository host: its compose service, or --local)',
      },
      type: { type: 'string', value: '<full|diff|incr>', description: 'with --base: the pgBackRest backup type (default full)' },
      local: { type: 'boolean', description: 'with --base: run the pgbackrest binary of this host (a repository host with the Debian package)' },
      'no-offsite': { type: 'boolean', description: 'skip the copy to BACKUP_OFFSITE_REMOTE (the next run without it copies this backup too)' },
    },
    examples: [
      'npx tsx scripts/backup-db.ts --env prod',
      'npx tsx scripts/backup-db.ts --env prod --compose --verify-restore',
      'npx tsx scripts/backup-db.ts --env prod --dry-run',
      'npx tsx scripts/backup-db.ts --env prod --base --type diff',
    ],
  },
  async (args) => {
    const { readRecipients } = await import('./lib/backup/age.js');
    const { backupPlan, runBackup } = await import('./lib/backup/backup.js');
    const { checkRemoteDefined, copyOffsite, describeOffsitePlan, describeOffsiteResult, offsiteTarget } = await import('./lib/backup/offsite.js');
    const { dumpSet } = await import('./lib/backup/offsite-sets.js');
    const { backupSettings } = await import('./lib/backup/settings.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { parseBackupType, physicalBackupPlan, runPhysicalBackup } = await import('./lib/pgbackrest/backup.js');
    const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
    const base = args.values.base === true;
    if (base && args.values['verify-restore'])
      throw new BadInputError('--base and --verify-restore exclude each other: pgBackRest backups are checked by `verify-pitr.ts`.');
    if (base && args.values.compose)
      throw new BadInputError(
        '--base and --compose exclude each other: --base always runs pgBackRest on the repository host (its compose service, or --local).',
      );
    if (!base && (args.values.type !== undefined || args.values.local)) throw new BadInputError('--type and --local go with --base only.');
    const env = envFromCli(args, 'apply');
    if (base) {
      const type = parseBackupType(args.values.type);
      const settings = pgbackrestSettings(env);
      const repo = await pgbackrestRunner(settings, 'repo', args.values.local === true);
      if (args.dryRun) {
        for (const step of physicalBackupPlan(settings, repo, type)) log.out(step);
        return;
      }
      const result = await runPhysicalBackup(settings, repo, type);
      log.out(
        `pgBackRest ${result.type} backup ${result.label} of stanza ${settings.stanza} in ${result.seconds.toFixed(1)} s; ${result.backups} backups in the repository`,
      );
      return;
    }
    const settings = backupSettings(env);
    // A dry run refuses what the real run refuses: no encryption in prod, an unreadable recipients file.
    if (env.name === 'prod' && !settings.recipientsFile)
      throw new BadInputError(
        'BACKUP_AGE_RECIPIENTS_FILE is empty: production backups hold health data and must be encrypted.',
        'set it to a file of age recipients',
      );
    if (settings.recipientsFile) readRecipients(settings.recipientsFile);
    const pg = await runner(args, env, settings);
    const options = { verifyRestore: args.values['verify-restore'] === true };
    const offsite = args.values['no-offsite'] ? undefined : offsiteTarget(env);
    // An undefined remote is refused before anything is written, in a dry run and a real run alike.
    if (offsite) await checkRemoteDefined(offsite);
    if (args.dryRun) {
      for (const step of backupPlan(settings, pg, options)) log.out(step);
      if (offsite) for (const step of await describeOffsitePlan(offsite, dumpSet(settings))) log.out(step);
      return;
    }
    const result = await runBackup(settings, pg, options);
    const m = result.manifest;
    log.out(
      `${resolve(settings.dir, m.name)} ${m.size} bytes sha256 ${m.sha256} in ${m.durationSeconds.toFixed(1)} s; verified; ${result.kept} kept, ${result.deleted.length} deleted by retention`,
    );
    if (offsite) log.out(describeOffsiteResult(offsite, dumpSet(settings), await copyOffsite(offsite, dumpSet(settings), settings.textfileDir)));
  },
);
