import type { CliArgs } from '../cli.js';
import { engineHost } from '../deploy/host.js';
import { deployStore } from '../deploy/store.js';
import { envFromCli } from '../env/from-cli.js';
import { dockerHostOf } from '../env/inventory.js';
import { log } from '../log.js';
import { statePaths } from '../paths.js';
import { dockerRunner } from './commands.js';
import type { ClusterAction } from './plan.js';
import { runClusterAction } from './run.js';
import { formatStatus, readStatus } from './status.js';

/**
 * db-cluster.ts: status reads; switchover and reinit change the cluster under
 * the deploy lock, which lives where the deploy keeps it: on the engine of the
 * inventory's first host (the local engine, or DOCKER_HOST, for one host).
 */
export async function clusterMain(args: CliArgs, action: 'status' | ClusterAction): Promise<void> {
  const env = envFromCli(args, action === 'status' ? 'plan' : 'apply');
  const run = dockerRunner(env.values.COMPOSE_PROJECT_NAME);
  if (action === 'status') {
    for (const line of formatStatus(env, await readStatus(env, run))) log.out(line);
    return;
  }
  const first = env.inventory.hosts[0];
  const store = deployStore(engineHost(first ? dockerHostOf(first) : undefined), statePaths(env).deploy);
  await runClusterAction(env, action, { run, store, dryRun: args.dryRun });
}
