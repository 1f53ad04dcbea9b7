import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SPEC } from './lib/cli/specs/deploy-prod.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  if (args.values.target === 'k8s') {
    // The Kubernetes path is its own script; pass every other argument through unchanged (checked above already).
    const script = join(import.meta.dirname, 'deploy-k8s.ts');
    if (!existsSync(script)) throw new OperationError('scripts/deploy-k8s.ts is not in this checkout.');
    const rest = process.argv.slice(2).filter((arg, i, all) => arg !== '--target' && all[i - 1] !== '--target' && !arg.startsWith('--target='));
    const child = spawnSync(process.execPath, [...process.execArgv, script, ...rest], { stdio: 'inherit' });
    process.exitCode = child.status ?? 1;
    return;
  }
  const { deployContext, scratchDir } = await import('./lib/deploy/context.js');
  const { engineHost } = await import('./lib/deploy/host.js');
  const { formatPlan } = await import('./lib/deploy/plan.js');
  const { executeRollback, rollbackTarget } = await import('./lib/deploy/rollback.js');
  const { executeDeploy } = await import('./lib/deploy/run.js');
  const { deployStatus } = await import('./lib/deploy/status.js');
  const { deployStore } = await import('./lib/deploy/store.js');
  const { executeForceUnlock } = await import('./lib/deploy/unlock.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  if (args.values.status) {
    const env = envFromCli(args, 'plan');
    log.out(await deployStatus(deployStore(engineHost(), statePaths(env).deploy), env.values.COMPOSE_PROJECT_NAME).then((text) => text.trimEnd()));
    return;
  }
  if (args.values['force-unlock']) {
    const env = envFromCli(args, 'plan');
    executeForceUnlock(deployStore(engineHost(), statePaths(env).deploy), {
      reason: args.values.reason as string,
      env: env.name,
      image: env.values.BACKEND_IMAGE,
      dryRun: args.dryRun,
    });
    return;
  }
  const env = envFromCli(args, 'apply');
  const ctx = await deployContext(args, env, { skipBackup: args.values['skip-backup'], skipChecks: args.values['skip-check'] });
  if (args.values.rollback) {
    if (args.dryRun) {
      // The same target, and the same refusal, as the real rollback.
      const target = rollbackTarget(ctx.store);
      log.out(`rollback plan: back to ${target.tag} (release ${target.release}) (state on ${ctx.store.where})`);
      return;
    }
    await executeRollback(ctx);
    return;
  }
  log.out(formatPlan(ctx.plan, { dryRun: args.dryRun }));
  await executeDeploy(ctx, args.dryRun ? scratchDir() : '');
  if (args.dryRun) log.info('dry run: steps 1-5 passed; nothing was changed.');
});
