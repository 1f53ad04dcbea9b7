import { chmodSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { runCli } from './lib/cli.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'restore-pitr.ts',
    summary:
      'Point-in-time recovery with pgBackRest: restore the encrypted repository into a NEW data folder (--local --target-dir) or a new docker volume (--volume), stopping at --to <time>, at the end of the archive (--latest) or at the end of the backup (--immediate). Start PostgreSQL on it: it replays WAL from the repository host and promotes.',
    dryRun: true,
    options: {
      to: { type: 'string', value: '<time>', description: 'recovery target: an RFC 3339 time with a zone, e.g. 2026-12-31T14:05:00Z (not in the future)' },
      latest: { type: 'boolean', description: 'replay all archived WAL (a lost host: recover everything)' },
      immediate: { type: 'boolean', description: 'stop as soon as the backup is consistent' },
      delta: { type: 'boolean', description: 'restore over an existing, stopped data folder or volume, keeping files that match' },
      local: { type: 'boolean', description: 'run the pgbackrest binary of this host (database host with the Debian package)' },
      'target-dir': { type: 'string', value: '<dir>', description: 'with --local: the data folder to restore into (new or empty; existing with --delta)' },
      volume: { type: 'string', value: '<name>', description: 'without --local: the docker volume to restore into (created; existing with --delta)' },
    },
    examples: [
      'npx tsx scripts/restore-pitr.ts --env prod --to 2026-12-31T14:05:00Z --volume healthmate_pitr_20261231',
      'npx tsx scripts/restore-pitr.ts --env prod --latest --local --target-dir /var/lib/postgresql/15/pitr',
    ],
  },
  async (args) => {
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { restoreVolume, spareCommand, volumeRestorePlan } = await import('./lib/pgbackrest/rebuild.js');
    const { describeCommand } = await import('./lib/backup/process.js');
    const { checkLocalDataDir, restorePlan, runRestore } = await import('./lib/pgbackrest/restore.js');
    const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
    const { describeTarget, restoreTarget } = await import('./lib/pgbackrest/target.js');
    const target = restoreTarget({
      to: typeof args.values.to === 'string' ? args.values.to : undefined,
      latest: args.values.latest === true,
      immediate: args.values.immediate === true,
    });
    const local = args.values.local === true;
    const targetDir = typeof args.values['target-dir'] === 'string' ? resolve(args.values['target-dir']) : undefined;
    const volume = typeof args.values.volume === 'string' ? args.values.volume : undefined;
    if (local && volume !== undefined) throw new BadInputError('--volume and --local exclude each other: --local restores into --target-dir on this host.');
    if (!local && targetDir !== undefined) throw new BadInputError('--target-dir goes with --local; through the engine, restore into --volume.');
    if (local && targetDir === undefined) throw new BadInputError('--local needs --target-dir <dir>, the data folder to restore into.');
    if (!local && volume === undefined) throw new BadInputError('say where to restore: --volume <name> (through the engine) or --local --target-dir <dir>.');
    if (volume !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(volume))
      throw new BadInputError(`--volume "${volume}" is not a docker volume name (letters, digits, _ . -).`);
    const delta = args.values.delta === true;
    const env = envFromCli(args, 'apply');
    const settings = pgbackrestSettings(env);

    if (volume !== undefined) {
      if (args.dryRun) {
        for (const step of await volumeRestorePlan(settings, { target, volume, delta })) log.out(step);
        return;
      }
      const seconds = await restoreVolume(settings, { target, volume, delta });
      log.out(`restored ${describeTarget(target)} into volume ${volume} in ${seconds.toFixed(1)} s`);
      log.out(`start a spare PostgreSQL on it (it replays WAL and promotes; archiving off): ${describeCommand(await spareCommand(settings, volume))}`);
      return;
    }
    const dataDir = targetDir as string;
    const db = await pgbackrestRunner(settings, 'db', true);
    const options = { target, dataDir, delta };
    checkLocalDataDir(dataDir, delta);
    if (args.dryRun) {
      for (const step of restorePlan(settings, db, options)) log.out(step);
      return;
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    const started = Date.now();
    await runRestore(settings, db, options);
    log.out(
      `restored ${describeTarget(target)} into ${dataDir} in ${((Date.now() - started) / 1000).toFixed(1)} s; start PostgreSQL on it to replay WAL and promote`,
    );
  },
);
