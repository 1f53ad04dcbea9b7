import { chmodSync, mkdirSync } from 'node:fs';
import { SPEC } from './lib/cli/specs/restore-pitr.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { restoreVolume, spareCommand, volumeRestorePlan } = await import('./lib/pgbackrest/rebuild.js');
  const { describeCommand } = await import('./lib/backup/process.js');
  const { checkLocalDataDir, restorePlan, runRestore } = await import('./lib/pgbackrest/restore.js');
  const { pgbackrestRunner, pgbackrestSettings } = await import('./lib/pgbackrest/settings.js');
  const { describeTarget, restoreTarget } = await import('./lib/pgbackrest/target.js');
  const target = restoreTarget({ to: args.values.to, immediate: args.values.immediate });
  const { delta, volume } = args.values;
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
  // --local with --target-dir: the spec's relations let nothing else through.
  const dataDir = args.values['target-dir'] as string;
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
});
