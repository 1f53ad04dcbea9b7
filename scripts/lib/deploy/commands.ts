/** How the deploy runs compose and the repo's own scripts (output redacted, secrets only in the environment). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx/core';
import { SCHEMA, type VarName } from '../env/schema.js';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import { repoRoot } from '../render/bundle.js';
import { scriptArgv } from './argv.js';
import type { DeployContext } from './context.js';
import { formatCommand } from './plan.js';

/** Runs a compose subcommand of the live stack, showing its output (redacted). */
export async function compose(ctx: { target: Pick<DeployContext['target'], 'compose'> }, args: string[], composeArgs = ctx.target.compose): Promise<void> {
  const [command, ...rest] = [...composeArgs, ...args];
  log.debug(formatCommand([...composeArgs, ...args]));
  const result = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  log.passthrough(result.stderr);
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' ');
    throw new OperationError(`${formatCommand([...composeArgs, ...args])} failed (exit ${result.exitCode}): ${detail}`);
  }
}

/** Runs one of the repo's scripts with the same env, secrets passed through the environment only. */
export async function runScript(ctx: DeployContext, script: string, extra: string[] = []): Promise<void> {
  const argv = scriptArgv(script, ctx.input, extra);
  if (!existsSync(join(repoRoot(), 'scripts', script))) throw new OperationError(`scripts/${script} is missing from this checkout.`);
  log.info(`  $ ${formatCommand(argv)}`);
  // Secret overrides travel in the child's environment (never on its command line); so does the
  // project name, which compose commands without -p (backup-db.ts --compose) need to find the stack.
  const secretOverrides = Object.fromEntries(Object.entries(ctx.input.overrides).filter(([name]) => SCHEMA[name as VarName]?.secret));
  const tsx = join(repoRoot(), 'node_modules', '.bin', 'tsx');
  const result = await $({
    quiet: true,
    nothrow: true,
    cwd: process.cwd(),
    env: { ...process.env, ...secretOverrides, COMPOSE_PROJECT_NAME: ctx.plan.env.values.COMPOSE_PROJECT_NAME },
  })`${tsx} ${[join(repoRoot(), 'scripts', script), ...argv.slice(3)]}`;
  log.passthrough(result.stderr);
  if (result.stdout.trim()) log.passthrough(result.stdout);
  if (result.exitCode !== 0) throw new OperationError(`scripts/${script} failed (exit ${result.exitCode}).`);
}
