import type { EnvArgs } from '../cli.js';
import { log } from '../log.js';
import { formatProblem, type LoadedEnv, loadEnv, type Purpose } from './load.js';

/** Loads and validates the env named by --env/--env-file/--set, printing warnings. */
export function envFromCli(args: EnvArgs, purpose: Purpose): LoadedEnv {
  const env = loadEnv({
    env: args.env,
    ...(args.envFile ? { envFile: args.envFile } : {}),
    overrides: args.overrides,
    purpose: args.dryRun ? 'plan' : purpose,
  });
  // Dev runs on defaults alone: say so, or a forgotten .env.dev goes unnoticed.
  if (!env.file) log.info(`no .env.${env.name} here: using the ${env.name} defaults (write one with init-env.ts --env ${env.name}, or pass --env-file).`);
  for (const warning of env.warnings) log.warn(formatProblem(warning));
  return env;
}
