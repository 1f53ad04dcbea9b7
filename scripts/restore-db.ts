import type { BackupSettings } from './lib/backup/settings.js';
import { runCli } from './lib/cli.js';
import type { LoadedEnv } from './lib/env/load.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'restore-db.ts',
    summary:
      'List, verify or restore database backups made by backup-db.ts. The sha256 is checked (a new target database is restored meanwhile, and dropped again if it fails); encrypted backups need the age identity; the target must be empty unless --force.',
    dryRun: true,
    options: {
      list: { type: 'boolean', description: 'list backups: name, age, size, verified, encrypted' },
      latest: { type: 'boolean', description: 'use the newest verified backup of POSTGRES_DB' },
      file: { type: 'string', value: '<file>', description: 'use this backup (a path, or a name in the backup folder)' },
      'target-db': { type: 'string', value: '<name>', description: 'database to restore into (default: a new one named after the backup)' },
      force: { type: 'boolean', description: 'restore into a database that already holds tables (replaces the objects the dump has)' },
      identity: { type: 'string', value: '<file>', description: 'age identity file that decrypts encrypted backups' },
      jobs: { type: 'string', value: '<n>', description: 'pg_restore parallel jobs (default 2)' },
      verify: { type: 'boolean', description: 'only check the sha256 and read the whole dump with pg_restore; restore nothing' },
      'from-offsite': {
        type: 'boolean',
        description: 'list or use the copies on BACKUP_OFFSITE_REMOTE (downloaded in stream, sha256 checked) instead of BACKUP_DIR',
      },
    },
    examples: [
      'npx tsx scripts/restore-db.ts --env prod --list',
      'npx tsx scripts/restore-db.ts --env prod --latest --identity ~/backup-identity.txt',
      'npx tsx scripts/restore-db.ts --env prod --from-offsite --latest --identity ~/backup-identity.txt',
      'npx tsx scripts/restore-db.ts --env prod --file healthmate-20261231T020000Z.dump.age --identity id.txt --target-db healthmate --force',
    ],
  },
  async (args) => {
    const { readIdentities } = await import('./lib/backup/age.js');
    const { directRunner } = await import('./lib/backup/pg.js');
    const { checkChecksum, chooseArtifact, defaultTargetDb, formatAge, listBackups, restoreArtifact, verifyArtifact } = await import('./lib/backup/restore.js');
    const { backupSettings } = await import('./lib/backup/settings.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
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
    const file = typeof args.values.file === 'string' ? args.values.file : undefined;
    if (!file && !args.values.latest) throw new BadInputError('say which backup to use: --latest or --file <file> (or --list to see them).');
    if (file && args.values.latest) throw new BadInputError('--latest and --file exclude each other; pass one.');
    const jobsText = typeof args.values.jobs === 'string' ? args.values.jobs : '2';
    if (!/^[1-9]\d?$/.test(jobsText)) throw new BadInputError(`--jobs must be a number from 1 to 99, not "${jobsText}".`);
    const targetText = typeof args.values['target-db'] === 'string' ? args.values['target-db'] : undefined;
    if (targetText !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(targetText))
      throw new BadInputError(`--target-db must be a lowercase SQL identifier, not "${targetText}".`);
    const identities = typeof args.values.identity === 'string' ? readIdentities(args.values.identity) : [];
    const remote = offsite ? await offsite.choose(file) : undefined;
    if (offsite && remote && args.dryRun) {
      log.out(offsite.describeFetch(remote.name));
      log.out(
        args.values.verify
          ? 'read the whole dump with pg_restore -f /dev/null'
          : `restore into database ${targetText ?? 'a new database named after the backup'} with pg_restore -j ${jobsText}`,
      );
      return;
    }
    const chosen = offsite && remote ? await offsite.fetch(remote.name) : chooseArtifact(settings.dir, settings.connection.database, file);
    const targetDb = targetText ?? defaultTargetDb(chosen);
    const runner = directRunner(settings.connection);
    if (args.dryRun) {
      log.out(`check sha256 of ${chosen.path} against its manifest`);
      if (chosen.manifest.encrypted) log.out('decrypt with the age identity into a private temp file');
      log.out(args.values.verify ? 'read the whole dump with pg_restore -f /dev/null' : `restore into database ${targetDb} with pg_restore -j ${jobsText}`);
      return;
    }
    if (args.values.verify) {
      await checkChecksum(chosen);
      await verifyArtifact(runner, chosen, identities);
      log.out(`${chosen.path}: sha256 matches and pg_restore read the whole dump`);
      return;
    }
    const result = await restoreArtifact(runner, chosen, { targetDb, force: args.values.force === true, jobs: Number(jobsText), identities });
    log.out(`restored ${chosen.path} into database ${result.targetDb} in ${result.seconds.toFixed(1)} s`);
  },
);

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
