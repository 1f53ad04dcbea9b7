import { SPEC } from './lib/cli/specs/deploy-dev.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { deployContext, scratchDir } = await import('./lib/deploy/context.js');
  const { checkBuildSource, deployDev, devPlanLines, devUrls } = await import('./lib/deploy/dev.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const env = envFromCli(args, 'apply');
  const ctx = await deployContext(args, env, { skipBackup: true, skipChecks: args.values['skip-check'] });
  const build = args.values.build;
  // The real run refuses a build without sources; the dry run must too.
  if (build) checkBuildSource(ctx);
  log.out(devPlanLines(ctx, build).join('\n'));
  await deployDev(ctx, { build, scratch: args.dryRun ? scratchDir() : '' });
  if (args.dryRun) {
    log.info('dry run: render, check and certificates passed; nothing was changed.');
    return;
  }
  log.out(['HealthMate dev stack is up:', ...devUrls(ctx).map((u) => `  ${u}`)].join('\n'));
});
