import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './lib/cli.js';
import { deployContext, scratchDir } from './lib/deploy/context.js';
import { formatPlan } from './lib/deploy/plan.js';
import { executeRollback, rollbackTarget } from './lib/deploy/rollback.js';
import { executeDeploy } from './lib/deploy/run.js';
import { envFromCli } from './lib/env/from-cli.js';
import { BadInputError, OperationError } from './lib/errors.js';
import { K8S_CLI_OPTIONS } from './lib/k8s/options.js';
import { log } from './lib/log.js';

const TARGETS = ['compose', 'k8s'] as const;

await runCli(
  {
    name: 'deploy-prod.ts',
    summary:
      'Deploy HealthMate with Compose: lock, render, check, certificates, backup, pull, datastores, migrations, zero-downtime rolling update of backend and workers, monitoring, smoke test, audit log. A failure during or after the rolling update rolls back to the previous tag.',
    dryRun: true,
    defaultEnv: 'prod',
    envs: { allowed: ['prod'], otherwise: 'the dev stack is brought up by deploy-dev.ts.' },
    options: {
      'skip-backup': { type: 'boolean', description: 'do not back up the database before migrations' },
      'skip-check': {
        type: 'string',
        multiple: true,
        value: '<name>',
        description:
          'deploy without this check (nginx, promtool, amtool, blackbox-exporter, docker-compose, systemd-analyze…; repeatable; recorded in the audit log)',
      },
      rollback: { type: 'boolean', description: 'roll back to the previous release (state.json) with the same rolling procedure' },
      target: { type: 'string', value: '<compose|k8s>', description: 'where to deploy (default compose); k8s runs scripts/deploy-k8s.ts' },
      // Accepted here so `--target k8s` can pass them on to deploy-k8s.ts.
      ...K8S_CLI_OPTIONS,
    },
    examples: [
      'npx tsx scripts/deploy-prod.ts --env-file .env.example --dry-run',
      'npx tsx scripts/deploy-prod.ts --env-file .env.prod --set BACKEND_TAG=1.4.2',
      'DOCKER_HOST=ssh://deploy@api.healthmate.org npx tsx scripts/deploy-prod.ts --env-file .env.prod',
      'npx tsx scripts/deploy-prod.ts --env-file .env.prod --rollback',
    ],
  },
  async (args) => {
    const target = (args.values.target as string | undefined) ?? 'compose';
    if (!(TARGETS as readonly string[]).includes(target)) throw new BadInputError(`--target must be compose or k8s, not "${target}".`);
    if (target === 'k8s') {
      // The Kubernetes path is its own script; pass every other argument through unchanged.
      const script = join(import.meta.dirname, 'deploy-k8s.ts');
      if (!existsSync(script)) throw new OperationError('scripts/deploy-k8s.ts is not in this checkout.');
      const rest = process.argv.slice(2).filter((arg, i, all) => arg !== '--target' && all[i - 1] !== '--target' && !arg.startsWith('--target='));
      const child = spawnSync(process.execPath, [...process.execArgv, script, ...rest], { stdio: 'inherit' });
      process.exitCode = child.status ?? 1;
      return;
    }
    for (const option of Object.keys(K8S_CLI_OPTIONS)) {
      if (args.values[option] !== undefined) throw new BadInputError(`--${option} applies only with --target k8s.`);
    }
    const env = envFromCli(args, 'apply');
    const ctx = await deployContext(args, env, { skipBackup: args.values['skip-backup'] === true });
    if (args.values.rollback) {
      if (args.dryRun) {
        // The same target, and the same refusal, as the real rollback.
        const target = rollbackTarget(ctx.paths.deploy);
        log.out(`rollback plan: back to ${target.tag} (release ${target.release})`);
        return;
      }
      await executeRollback(ctx);
      return;
    }
    log.out(formatPlan(ctx.plan, { dryRun: args.dryRun }));
    await executeDeploy(ctx, args.dryRun ? scratchDir() : '');
    if (args.dryRun) log.info('dry run: steps 1-5 passed; nothing was changed.');
  },
);
