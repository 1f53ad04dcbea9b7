import type { CliArgs } from '../cli.js';
import { log } from '../log.js';
import { formatProblem, type LoadedEnv, loadEnv, type Purpose } from './load.js';

/** Loads and validates the env named by --env/--env-file/--set, printing warnings. */
export function envFromCli(args: CliArgs, purpose: Purpose): LoadedEnv {
  const env = loadEnv({
    env: args.env,
    ...(args.envFile ? { envFile: args.envFile } : {}),
    overrides: args.overrides,
    purpose: args.dryRun ? 'plan' : purpose,
  });
  for (const warning of env.warnings) log.warn(formatProblem(warning));
  return env;
}
