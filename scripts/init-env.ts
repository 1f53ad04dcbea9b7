import { SPEC } from './lib/cli/specs/init-env.js';
import { runCli } from './lib/cli.js';

await runCli(SPEC, async (args) => (await import('./lib/env/init-file.js')).initEnv(args, args.values));
