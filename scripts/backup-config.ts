import { resolve } from 'node:path';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'backup-config.ts',
    summary:
      'Archive the configuration (compose/, k8s/, nginx/, monitoring/, backups/ and the rendered bundle dist/<env>) into <BACKUP_DIR>/config as a verified tar.gz; the bundle secrets/ only when encrypted with age. Keeps BACKUP_CONFIG_KEEP archives.',
    dryRun: true,
    options: {
      'bundle-dir': { type: 'string', value: '<dir>', description: 'rendered bundle to include (default dist/<env>)' },
      'no-offsite': { type: 'boolean', description: 'skip the copy to BACKUP_OFFSITE_REMOTE/config (the next run without it copies this archive too)' },
    },
    examples: ['npx tsx scripts/backup-config.ts --env prod', 'npx tsx scripts/backup-config.ts --env prod --dry-run'],
  },
  async (args) => {
    const { describeConfigPlan, planConfigArchive, runConfigBackup } = await import('./lib/backup/config-archive.js');
    const { checkRemoteDefined, copyOffsite, describeOffsitePlan, describeOffsiteResult, offsiteTarget } = await import('./lib/backup/offsite.js');
    const { configSet } = await import('./lib/backup/offsite-sets.js');
    const { backupSettings } = await import('./lib/backup/settings.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { repoRoot } = await import('./lib/render/bundle.js');
    const { checkBundleFolder } = await import('./lib/render/bundle-env.js');
    const env = envFromCli(args, 'apply');
    const settings = backupSettings(env);
    const given = typeof args.values['bundle-dir'] === 'string' ? args.values['bundle-dir'] : undefined;
    const bundleDir = resolve(given ?? `dist/${env.name}`);
    // A folder named on the command line must be a bundle; the default may be missing (then only a warning).
    if (given !== undefined) checkBundleFolder(bundleDir, given);
    const plan = planConfigArchive(settings, repoRoot(), bundleDir, new Date());
    const offsite = args.values['no-offsite'] ? undefined : offsiteTarget(env);
    // An undefined remote is refused before anything is written, in a dry run and a real run alike.
    if (offsite) await checkRemoteDefined(offsite);
    if (args.dryRun) {
      for (const step of describeConfigPlan(settings, plan)) log.out(step);
      if (offsite) for (const step of await describeOffsitePlan(offsite, configSet(settings))) log.out(step);
      return;
    }
    const { manifest, deleted } = await runConfigBackup(settings, plan);
    log.out(`${resolve(settings.configDir, manifest.name)} ${manifest.size} bytes sha256 ${manifest.sha256}; verified; ${deleted.length} deleted by retention`);
    if (offsite) log.out(describeOffsiteResult(offsite, configSet(settings), await copyOffsite(offsite, configSet(settings), settings.textfileDir)));
  },
);
