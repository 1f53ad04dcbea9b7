import { resolve } from 'node:path';
import { SPEC } from './lib/cli/specs/backup-config.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { describeConfigPlan, planConfigArchive, runConfigBackup } = await import('./lib/backup/config-archive.js');
  const { checkRemoteDefined, copyOffsite, describeOffsitePlan, describeOffsiteResult, offsiteTarget } = await import('./lib/backup/offsite.js');
  const { configSet } = await import('./lib/backup/offsite-sets.js');
  const { backupSettings } = await import('./lib/backup/settings.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { repoRoot } = await import('./lib/render/bundle.js');
  const env = envFromCli(args, 'apply');
  const settings = backupSettings(env);
  const plan = planConfigArchive(settings, repoRoot(), args.values['bundle-dir'], new Date());
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
});
