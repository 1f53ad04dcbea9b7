import { parseArgs } from 'node:util';
import { runCleanups } from './cleanup.js';
import { ENV_NAMES, type EnvName, NODE20_ENV_FILE_NOTE } from './env/names.js';
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
  /** Leaves out --env-file (init-env writes a file, and Node 20 claims that flag). */
  envFileOption?: boolean;
  /** The only environments this script accepts, with the sentence telling where the others go. */
  envs?: { allowed: readonly EnvName[]; otherwise: string };
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
  const envOptions = spec.envOptions === false ? {} : { ...ENV_OPTIONS };
  if (spec.envFileOption === false) delete (envOptions as Record<string, OptionSpec>)['env-file'];
  return {
    ...envOptions,
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
  if ('env-file' in options) lines.push('', NODE20_ENV_FILE_NOTE);
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/**
 * `--days -5` would make parseArgs answer "argument is ambiguous": join a value
 * that starts with a dash and a digit to its flag, so the script's own check
 * answers with its own sentence.
 */
function joinDashValues(options: Record<string, OptionSpec>, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseHint(spec: CliSpec, message: string): string {
  if (/'--env-file'/.test(message) && spec.envFileOption === false) return `${spec.name} writes its file with --out <file>; ${NODE20_ENV_FILE_NOTE}`;
  return `run npx tsx scripts/${spec.name} --help`;
}

export function parseCli(spec: CliSpec, argv: string[]): CliArgs | 'help' {
  const options = allOptions(spec);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: joinDashValues(options, argv),
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
      ),
      allowPositionals: spec.positionals !== undefined,
      strict: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new BadInputError(`${spec.name}: ${message?.replace(/\.$/, '')}.`, parseHint(spec, message ?? ''));
  }
  const values = parsed.values as CliArgs['values'];
  if (values.help) return 'help';
  const env = (values.env as string | undefined) ?? spec.defaultEnv ?? 'prod';
  if (!(ENV_NAMES as readonly string[]).includes(env)) {
    throw new BadInputError(`--env must be one of ${ENV_NAMES.join(', ')}, not "${env}".`);
  }
  if (spec.envs && !(spec.envs.allowed as readonly string[]).includes(env)) {
    throw new BadInputError(`${spec.name} runs only with --env ${spec.envs.allowed.join(' or ')}, not "${env}"; ${spec.envs.otherwise}`);
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

/** Refuses flags that exclude each other, naming them: one of them would be silently dropped. */
export function refuseTogether(args: CliArgs, flags: string[]): void {
  const given = flags.filter((flag) => args.values[flag] !== undefined && args.values[flag] !== false);
  if (given.length > 1) throw new BadInputError(`${given.map((f) => `--${f}`).join(' and ')} exclude each other; pass one.`);
}

/** An http(s) base URL from a flag, checked before anything runs. */
export function urlOption(args: CliArgs, flag: string, fallback: string): string;
export function urlOption(args: CliArgs, flag: string, fallback?: string): string | undefined;
export function urlOption(args: CliArgs, flag: string, fallback?: string): string | undefined {
  const raw = args.values[flag];
  if (typeof raw !== 'string') return fallback;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '' || url.username || url.password || url.search || url.hash) {
    throw new BadInputError(`--${flag} must be an http(s) base URL like http://127.0.0.1:9093, not "${raw}".`);
  }
  return raw;
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
  if (isProcessOutput(error)) {
    const detail = error.stderr.trim().split('\n').slice(-5).join('\n');
    log.error(`a command failed with exit code ${error.exitCode}${detail ? `:\n${redact(detail)}` : '.'}`);
    return EXIT_FAILED;
  }
  log.error(error instanceof Error ? error.message : String(error));
  if (verbose && error instanceof Error && error.stack) log.info(error.stack);
  else log.info('hint: run again with --verbose for details');
  return EXIT_FAILED;
}

/** zx's ProcessOutput, recognised without loading zx (a --help must not pay for it). */
function isProcessOutput(error: unknown): error is { exitCode: number | null; stderr: string } {
  return typeof error === 'object' && error !== null && error.constructor?.name === 'ProcessOutput' && 'exitCode' in error && 'stderr' in error;
}
