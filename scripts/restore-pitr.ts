import { resolve } from 'node:path';
import { readIdentities } from './lib/backup/age.js';
import { chooseBase, listBaseBackups, parseTargetTime, pitrPlan, preparePitr } from './lib/backup/pitr.js';
import { backupSettings } from './lib/backup/settings.js';
import { runCli } from './lib/cli.js';
import { envFromCli } from './lib/env/from-cli.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'restore-pitr.ts',
    summary:
      'Prepare a PostgreSQL data directory that recovers to a point in time: the newest base backup that ended before --to, extracted after its sha256 check, with restore_command reading the WAL archive and recovery_target_time. Start PostgreSQL on it to replay and promote.',
    dryRun: true,
    options: {
      to: { type: 'string', value: '<timestamp>', description: 'recovery target, ISO 8601 with zone (e.g. 2026-12-31T14:05:00Z)' },
      'target-dir': { type: 'string', value: '<dir>', description: 'new (or empty) data directory to prepare' },
      'wal-archive': { type: 'string', value: '<dir>', description: 'WAL archive as the recovering server sees it (default <BACKUP_DIR>/wal)' },
      identity: { type: 'string', value: '<file>', description: 'age identity file for encrypted base backups' },
      owner: { type: 'string', value: '<uid:gid>', description: 'chown the prepared directory (e.g. 999:999 for the postgres image)' },
    },
    examples: ['npx tsx scripts/restore-pitr.ts --env prod --to 2026-12-31T14:05:00Z --target-dir /var/lib/healthmate/pitr --identity id.txt --owner 999:999'],
  },
  async (args) => {
    const env = envFromCli(args, 'apply');
    const settings = backupSettings(env);
    if (typeof args.values.to !== 'string') throw new BadInputError('--to <timestamp> is required (the point in time to recover to).');
    if (typeof args.values['target-dir'] !== 'string') throw new BadInputError('--target-dir <dir> is required (a new data directory).');
    const to = parseTargetTime(args.values.to);
    const owner = typeof args.values.owner === 'string' ? args.values.owner : undefined;
    if (owner !== undefined && !/^[\w.-]+(:[\w.-]+)?$/.test(owner))
      throw new BadInputError(`--owner must look like 999:999 or postgres:postgres, not "${owner}".`);
    const identities = typeof args.values.identity === 'string' ? readIdentities(args.values.identity) : [];
    const base = chooseBase(listBaseBackups(settings.baseDir), to.date, settings.baseDir);
    const options = {
      base,
      to,
      targetDir: resolve(args.values['target-dir']),
      walArchive: typeof args.values['wal-archive'] === 'string' ? resolve(args.values['wal-archive']) : settings.walDir,
      identities,
      ...(owner ? { owner } : {}),
    };
    if (args.dryRun) {
      for (const step of pitrPlan(options)) log.out(step);
      return;
    }
    await preparePitr(options);
    log.out(`prepared ${options.targetDir} from ${base.path}: start PostgreSQL on it to replay WAL up to ${to.postgres}; it promotes when it gets there`);
  },
);
