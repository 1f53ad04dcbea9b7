import { SPEC } from './lib/cli/specs/deploy-k8s.js';
import { runCli } from './lib/cli.js';

await runCli(SPEC, async (args) => (await import('./lib/k8s/cli.js')).runDeployK8s(args, args.values));
