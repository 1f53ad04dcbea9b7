import { resolve } from 'node:path';
import type { PgRunner } from './lib/backup/pg.js';
import type { BackupSettings } from './lib/backup/settings.js';
import { SPEC } from './lib/cli/specs/backup-db.js';
import { runCli } from './lib/cli.js';
import type { LoadedEnv } from './lib/env/load.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

async function runner(compose: boolean, env: LoadedEnv, settings: BackupSettings): Promise<PgRunner> {
  const { composeRunner, directRunner } = await import('./lib/backup/pg.js');
  const { dbStackFile, requireStackFile } = await import('./lib/render/stack-files.js');
  if (!compose) return directRunner(settings.connection);
  // The stack runs from the deploy's stable folder; a bundle only rendered (never deployed) is the fallback.
  // With several hosts: the first db host's (its engine is DOCKER_HOST; the deploy points it there).
  const composeFile = requireStackFile(dbStackFile(env, 'docker-compose.yml'), env.name, 'drop --compose to reach PostgreSQL directly');
  return composeRunner(settings.connection, composeFile, env.values.COMPOSE_PROJECT_NAME);
}

await runCli(SPEC, async (args) => {
  const { readRecipients } = await import('./lib/backup/age.js');
  const { backupPlan, runBackup } = await import('./lib/backup/backup.js');
  const { checkRemoteDefined, copyOffsite, describeOffsitePlan, describeOffsiteResult, offsiteTarget } = await import('./lib/backup/offsite.js');
  const { dumpSet } = await import('./lib/backup/offsite-sets.js');
  const { backupSettings } = await import('./lib/backup/settings.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { physicalBackupPlan, runPhysicalBackup } = await import('./lib/pgbackrest/backup.js');
  const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
  const env = envFromCli(args, 'apply');
  if (args.values.base) {
    const type = args.values.type ?? 'full';
    const settings = pgbackrestSettings(env);
    const repo = await pgbackrestRunner(settings, 'repo', args.values.local);
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
  const pg = await runner(args.values.compose, env, settings);
  const options = { verifyRestore: args.values['verify-restore'] };
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
});
