import { parseArgs } from 'node:util';
import { ProcessOutput } from 'zx';
import { runCleanups } from './cleanup.js';
import { ENV_NAMES, type EnvName } from './env/spec.js';
import { BadInputError, EXIT_BAD_INPUT, EXIT_FAILED, OperationError } from './errors.js';
import { log, redact, setVerbose } from './log.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** Shown in --help, e.g. `<dir>`. */
  value?: string;
}

export interface CliSpec {
  /** Script file name, e.g. render.ts. */
  name: string;
  summary: string;
  options?: Record<string, OptionSpec>;
  /** Adds --env, --env-file and --set (default true). */
  envOptions?: boolean;
  /** Adds --dry-run; scripts that change state must set it. */
  dryRun?: boolean;
  defaultEnv?: EnvName;
  positionals?: string;
  examples?: string[];
}

export interface CliArgs {
  env: EnvName;
  envFile?: string;
  overrides: Record<string, string>;
  dryRun: boolean;
  verbose: boolean;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

const COMMON: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
  verbose: { type: 'boolean', short: 'v', description: 'print debug output and stack traces' },
};
const ENV_OPTIONS: Record<string, OptionSpec> = {
  env: { type: 'string', value: '<dev|prod>', description: 'environment to use' },
  'env-file': { type: 'string', value: '<file>', description: 'env file to read (default .env.<env>)' },
  set: { type: 'string', multiple: true, value: '<NAME=value>', description: 'override one variable (repeatable; beats the process env and the file)' },
};
const DRY_RUN: Record<string, OptionSpec> = {
  'dry-run': { type: 'boolean', description: 'print the plan and change nothing' },
};

function allOptions(spec: CliSpec): Record<string, OptionSpec> {
  return {
    ...(spec.envOptions === false ? {} : ENV_OPTIONS),
    ...(spec.dryRun ? DRY_RUN : {}),
    ...spec.options,
    ...COMMON,
  };
}

export function helpText(spec: CliSpec): string {
  const options = allOptions(spec);
  const envNote = spec.envOptions === false ? '' : ` [--env ${spec.defaultEnv ?? 'prod'}]`;
  const lines = [`Usage: npx tsx scripts/${spec.name}${envNote} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`, '', spec.summary, '', 'Options:'];
  for (const [name, option] of Object.entries(options)) {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.value ? ` ${option.value}` : ''}`;
    lines.push(`  ${flag.padEnd(34)} ${option.description}`);
  }
  lines.push('', 'Exit codes: 0 success, 1 operation failed, 2 bad usage or bad input.');
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

export function parseCli(spec: CliSpec, argv: string[]): CliArgs | 'help' {
  const options = allOptions(spec);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
      ),
      allowPositionals: spec.positionals !== undefined,
      strict: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new BadInputError(`${spec.name}: ${message?.replace(/\.$/, '')}.`, `run npx tsx scripts/${spec.name} --help`);
  }
  const values = parsed.values as CliArgs['values'];
  if (values.help) return 'help';
  const env = (values.env as string | undefined) ?? spec.defaultEnv ?? 'prod';
  if (!(ENV_NAMES as readonly string[]).includes(env)) {
    throw new BadInputError(`--env must be one of ${ENV_NAMES.join(', ')}, not "${env}".`);
  }
  const overrides: Record<string, string> = {};
  for (const pair of (values.set as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new BadInputError(`--set expects NAME=value, got "${pair}".`);
    overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return {
    env: env as EnvName,
    ...(typeof values['env-file'] === 'string' ? { envFile: values['env-file'] } : {}),
    overrides,
    dryRun: values['dry-run'] === true,
    verbose: values.verbose === true,
    values,
    positionals: parsed.positionals,
  };
}

/**
 * Runs a script's main function with the shared conventions: --help, exit
 * codes (0/1/2), one-sentence errors with a hint, stack traces only with
 * --verbose, cleanups on every exit path.
 */
export async function runCli(spec: CliSpec, main: (args: CliArgs) => Promise<void>, argv = process.argv.slice(2)): Promise<void> {
  let verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    const args = parseCli(spec, argv);
    if (args === 'help') {
      process.stdout.write(`${helpText(spec)}\n`);
      return;
    }
    verbose = args.verbose;
    setVerbose(verbose);
    await main(args);
  } catch (error) {
    process.exitCode = reportError(error, verbose);
  } finally {
    await runCleanups();
  }
}

export function reportError(error: unknown, verbose: boolean): number {
  if (error instanceof BadInputError || error instanceof OperationError) {
    log.error(error.message);
    if (error.hint) log.info(`hint: ${error.hint}`);
    if (verbose && error.stack) log.info(error.stack);
    return error instanceof BadInputError ? EXIT_BAD_INPUT : EXIT_FAILED;
  }
  if (error instanceof ProcessOutput) {
    const detail = error.stderr.trim().split('\n').slice(-5).join('\n');
    log.error(`a command failed with exit code ${error.exitCode}${detail ? `:\n${redact(detail)}` : '.'}`);
    return EXIT_FAILED;
  }
  log.error(error instanceof Error ? error.message : String(error));
  if (verbose && error instanceof Error && error.stack) log.info(error.stack);
  else log.info('hint: run again with --verbose for details');
  return EXIT_FAILED;
}
