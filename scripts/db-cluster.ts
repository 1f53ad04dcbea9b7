import { SPEC } from './lib/cli/specs/db-cluster.js';
import { runCli } from './lib/cli.js';

await runCli(SPEC, async (args) => {
  const { clusterMain } = await import('./lib/cluster/main.js');
  const { status, switchover, to, reinit } = args.values;
  await clusterMain(args, status ? 'status' : switchover ? { kind: 'switchover', ...(to ? { to } : {}) } : { kind: 'reinit', member: reinit as string });
});
