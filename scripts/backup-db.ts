import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backupPlan, runBackup } from './lib/backup/backup.js';
import { baseBackupPlan, runBaseBackup } from './lib/backup/base.js';
import { composeRunner, directRunner, type PgRunner } from './lib/backup/pg.js';
import { backupSettings } from './lib/backup/settings.js';
import { type CliArgs, runCli } from './lib/cli.js';
import { CURRENT_DIR } from './lib/deploy/releases.js';
import { envFromCli } from './lib/env/from-cli.js';
import type { LoadedEnv } from './lib/env/load.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';
import { statePaths } from './lib/paths.js';

async function runner(args: CliArgs, env: LoadedEnv, settings: ReturnType<typeof backupSettings>): Promise<PgRunner> {
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
      'Dump the env database with pg_dump -Fc in one stream (sha256, optional age encryption, fsync, rename), verify it by a full read, write a manifest, apply retention and write node_exporter metrics.',
    dryRun: true,
    options: {
      compose: { type: 'boolean', description: 'run pg_dump inside the running stack (docker compose exec -T postgres) of dist/<env>' },
      'verify-restore': { type: 'boolean', description: 'also restore into a scratch database and compare row counts with the dump snapshot' },
      base: { type: 'boolean', description: 'take a pg_basebackup for point-in-time recovery instead of a dump' },
    },
    examples: [
      'npx tsx scripts/backup-db.ts --env prod',
      'npx tsx scripts/backup-db.ts --env prod --compose --verify-restore',
      'npx tsx scripts/backup-db.ts --env prod --dry-run',
    ],
  },
  async (args) => {
    const env = envFromCli(args, 'apply');
    const settings = backupSettings(env);
    // A dry run refuses it too: it must not show a plan the real run would refuse.
    if (env.name === 'prod' && !settings.recipientsFile)
      throw new BadInputError(
        'BACKUP_AGE_RECIPIENTS_FILE is empty: production backups hold health data and must be encrypted.',
        'set it to a file of age recipients',
      );
    const pg = await runner(args, env, settings);
    if (args.values.base) {
      if (args.dryRun) {
        for (const step of baseBackupPlan(settings, pg)) log.out(step);
        return;
      }
      const result = await runBaseBackup(settings, pg);
      log.out(`base backup ${result.path} ${result.size} bytes; verified`);
      return;
    }
    const options = { verifyRestore: args.values['verify-restore'] === true };
    if (args.dryRun) {
      for (const step of backupPlan(settings, pg, options)) log.out(step);
      return;
    }
    const result = await runBackup(settings, pg, options);
    const m = result.manifest;
    log.out(
      `${resolve(settings.dir, m.name)} ${m.size} bytes sha256 ${m.sha256} in ${m.durationSeconds.toFixed(1)} s; verified; ${result.kept} kept, ${result.deleted.length} deleted by retention`,
    );
  },
);
