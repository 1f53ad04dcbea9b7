import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'deploy-dev.ts',
    summary: 'Render the dev bundle, bring the dev stack up (hot-reloading backend, Prometheus, Grafana, Mailhog, all on 127.0.0.1) and print the URLs.',
    dryRun: true,
    defaultEnv: 'dev',
    envs: { allowed: ['dev'], otherwise: 'production is deployed by deploy-prod.ts.' },
    options: {
      build: { type: 'boolean', description: 'rebuild the backend dev image from HEALTHMATE_SRC (compose/backend/Dockerfile.dev)' },
      'skip-check': { type: 'string', multiple: true, value: '<name>', description: 'start without this check (nginx, promtool, amtool…; repeatable)' },
    },
    examples: ['npx tsx scripts/deploy-dev.ts', 'npx tsx scripts/deploy-dev.ts --build', 'npx tsx scripts/deploy-dev.ts --dry-run'],
  },
  async (args) => {
    const { deployContext, scratchDir } = await import('./lib/deploy/context.js');
    const { checkBuildSource, deployDev, devPlanLines, devUrls } = await import('./lib/deploy/dev.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const env = envFromCli(args, 'apply');
    const ctx = await deployContext(args, env, { skipBackup: true });
    const build = args.values.build === true;
    // The real run refuses a build without sources; the dry run must too.
    if (build) checkBuildSource(ctx);
    log.out(devPlanLines(ctx, build).join('\n'));
    await deployDev(ctx, { build, scratch: args.dryRun ? scratchDir() : '' });
    if (args.dryRun) {
      log.info('dry run: render, check and certificates passed; nothing was changed.');
      return;
    }
    log.out(['HealthMate dev stack is up:', ...devUrls(ctx).map((u) => `  ${u}`)].join('\n'));
  },
);
