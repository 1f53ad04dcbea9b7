import type { BackupSettings } from './lib/backup/settings.js';
import { SPEC } from './lib/cli/specs/restore-db.js';
import { runCli } from './lib/cli.js';
import type { LoadedEnv } from './lib/env/load.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { readIdentities } = await import('./lib/backup/age.js');
  const { directRunner } = await import('./lib/backup/pg.js');
  const { checkChecksum, chooseArtifact, defaultTargetDb, formatAge, listBackups, restoreArtifact, verifyArtifact } = await import('./lib/backup/restore.js');
  const { backupSettings } = await import('./lib/backup/settings.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { file, jobs, verify, identity } = args.values;
  const env = envFromCli(args, 'apply');
  const settings = backupSettings(env);
  const offsite = args.values['from-offsite'] ? await offsiteCopies(env, settings) : undefined;
  if (args.values.list) {
    const rows = offsite ? await offsite.list() : listBackups(settings.dir);
    log.out(['NAME', 'AGE', 'SIZE', 'VERIFIED', 'ENCRYPTED'].join('\t'));
    for (const r of rows) log.out([r.name, formatAge(r.ageHours), String(r.size), r.verified ? 'yes' : 'no', r.encrypted ? 'yes' : 'no'].join('\t'));
    if (rows.length === 0) log.info(`no backups in ${offsite ? offsite.remote : settings.dir}`);
    return;
  }
  const targetText = args.values['target-db'];
  const identities = identity !== undefined ? readIdentities(identity) : [];
  const remote = offsite ? await offsite.choose(file) : undefined;
  if (offsite && remote && args.dryRun) {
    log.out(offsite.describeFetch(remote.name));
    log.out(
      verify
        ? 'read the whole dump with pg_restore -f /dev/null'
        : `restore into database ${targetText ?? 'a new database named after the backup'} with pg_restore -j ${jobs}`,
    );
    return;
  }
  const chosen = offsite && remote ? await offsite.fetch(remote.name) : chooseArtifact(settings.dir, settings.connection.database, file);
  const targetDb = targetText ?? defaultTargetDb(chosen);
  const runner = directRunner(settings.connection);
  if (args.dryRun) {
    log.out(`check sha256 of ${chosen.path} against its manifest`);
    if (chosen.manifest.encrypted) log.out('decrypt with the age identity into a private temp file');
    log.out(verify ? 'read the whole dump with pg_restore -f /dev/null' : `restore into database ${targetDb} with pg_restore -j ${jobs}`);
    return;
  }
  if (verify) {
    await checkChecksum(chosen);
    await verifyArtifact(runner, chosen, identities);
    log.out(`${chosen.path}: sha256 matches and pg_restore read the whole dump`);
    return;
  }
  const result = await restoreArtifact(runner, chosen, { targetDb, force: args.values.force, jobs, identities });
  log.out(`restored ${chosen.path} into database ${result.targetDb} in ${result.seconds.toFixed(1)} s`);
});

/** The copies on BACKUP_OFFSITE_REMOTE; rclone's modules load only for --from-offsite. */
async function offsiteCopies(env: LoadedEnv, settings: BackupSettings) {
  const [offsite, { dumpSet }] = await Promise.all([import('./lib/backup/offsite.js'), import('./lib/backup/offsite-sets.js')]);
  const target = offsite.offsiteTarget(env);
  if (!target) throw new BadInputError('--from-offsite needs BACKUP_OFFSITE_REMOTE, which is empty.', 'set it (and the rclone remote) as for backup-db.ts');
  const set = dumpSet(settings);
  return {
    remote: target.remote,
    list: () => offsite.listOffsiteBackups(target, set),
    choose: (file: string | undefined) => offsite.chooseOffsite(target, set, file),
    describeFetch: (name: string) => offsite.describeFetch(target, set, name, settings.dir),
    fetch: (name: string) => offsite.fetchOffsite(target, set, name, settings.dir),
  };
}
