import { runCleanups } from './cleanup.js';
import { assignment, checkHygiene, existingFile, flag, type Kind, type KindContext, oneOf } from './cli/kinds.js';
import { checkRelations, describeRelation, type Relation } from './cli/relations.js';
import { ENV_NAMES, type EnvName, NODE20_ENV_FILE_NOTE } from './env/names.js';
import { BadInputError, EXIT_BAD_INPUT, EXIT_FAILED, OperationError } from './errors.js';
import { log, redact, setVerbose } from './log.js';

export interface OptionSpec<T = unknown> {
  kind: Kind<T>;
  description: string;
  short?: string;
  /** Repeatable; every other option given twice is refused (the last would win silently). */
  multiple?: boolean;
  /** Taken when the option is absent, and checked by its kind like a given value (so a dry run refuses it too). */
  default?: string | ((env: EnvName) => string);
  /** --help placeholder when the kind's own is too vague, e.g. `<seconds>`. */
  value?: string;
}

export type Options = Record<string, OptionSpec>;

type KindValue<O> = O extends { kind: Kind<infer T> } ? T : never;

/** What a script's body receives: every option already checked by its kind. */
export type OptionValues<O extends Options> = {
  -readonly [K in keyof O]: O[K] extends { multiple: true }
    ? KindValue<O[K]>[]
    : O[K] extends { kind: Kind<boolean> }
      ? boolean
      : O[K] extends { default: unknown }
        ? KindValue<O[K]>
        : KindValue<O[K]> | undefined;
};

export interface CliSpec<O extends Options = Options> {
  /** Script file name, e.g. render.ts. */
  name: string;
  summary: string;
  options?: O;
  /** Adds --env, --env-file and --set (default true). */
  envOptions?: boolean;
  /** Leaves out --env-file (init-env writes a file, and Node 20 claims that flag). */
  envFileOption?: boolean;
  /** The only environments this script accepts, with the sentence telling where the others go. */
  envs?: { allowed: readonly EnvName[]; otherwise: string };
  /** Another option that names the env in its own words (setup-monitoring's --environment production). */
  envAlias?: { option: string; values: Readonly<Record<string, EnvName>> };
  /** Adds --dry-run; scripts that change state must set it. It goes through the same checks as the real run. */
  dryRun?: boolean;
  defaultEnv?: EnvName;
  /** Options that exclude each other, apply only with another, or need another (scripts/lib/cli/relations.ts). */
  relations?: readonly Relation[];
  examples?: string[];
}

/** A spec, with its option types kept for the body's typed values. */
export function defineCli<const O extends Options>(spec: CliSpec<O>): CliSpec<O> {
  return spec;
}

/** What the env loader takes from the command line. */
export interface EnvArgs {
  env: EnvName;
  envFile?: string;
  overrides: Record<string, string>;
  dryRun: boolean;
}

export interface CliArgs<O extends Options = Options> extends EnvArgs {
  verbose: boolean;
  values: OptionValues<O>;
}

const COMMON: Options = {
  help: { kind: flag, short: 'h', description: 'show this help and exit' },
  verbose: { kind: flag, short: 'v', description: 'print debug output and stack traces' },
};
const ENV_OPTIONS: Options = {
  env: { kind: oneOf(ENV_NAMES), description: 'environment to use' },
  'env-file': { kind: existingFile, description: 'env file to read (default .env.<env>)' },
  set: { kind: assignment, multiple: true, description: 'override one variable (repeatable, once per NAME; beats the process env and the file)' },
};
const DRY_RUN: Options = {
  'dry-run': { kind: flag, description: 'print the plan and change nothing (refuses what the real run refuses)' },
};

/** Every option of a script, the shared ones included. */
export function allOptions(spec: CliSpec): Options {
  const envOptions = spec.envOptions === false ? {} : { ...ENV_OPTIONS };
  if (spec.envFileOption === false) delete envOptions['env-file'];
  return { ...envOptions, ...(spec.dryRun ? DRY_RUN : {}), ...spec.options, ...COMMON };
}

export function helpText(spec: CliSpec): string {
  const options = allOptions(spec);
  const envNote = spec.envOptions === false ? '' : ` [--env ${spec.defaultEnv ?? 'prod'}]`;
  const lines = [`Usage: npx tsx scripts/${spec.name}${envNote} [options]`, '', spec.summary, '', 'Options:'];
  for (const [name, option] of Object.entries(options)) {
    const placeholder = option.value ?? option.kind.placeholder;
    const flagText = `${option.short ? `-${option.short}, ` : '    '}--${name}${placeholder ? ` ${placeholder}` : ''}`;
    lines.push(`  ${flagText.padEnd(34)} ${option.description}`);
    if (option.kind !== flag) {
      const given = typeof option.default === 'string' ? `; default ${option.default}` : '';
      lines.push(`  ${''.padEnd(34)} value: ${option.kind.summary}${given}${option.multiple ? '; repeatable' : ''}`);
    }
  }
  if (spec.relations?.length) lines.push('', 'Rules:', ...spec.relations.map((relation) => `  ${describeRelation(relation)}`));
  lines.push('', 'Exit codes: 0 success, 1 operation failed, 2 bad usage or bad input.');
  if ('env-file' in options) lines.push('', NODE20_ENV_FILE_NOTE);
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/** Each option as given on the command line, in order; `undefined` for a flag. */
export type Given = Map<string, (string | undefined)[]>;

/**
 * Splits argv by the spec. The word after a value option is its value, even
 * when it starts with a dash (`--out -x.env`, `--days -5`): its kind judges it,
 * so Node's "argument is ambiguous" never reaches the user. Only one of this
 * script's own options there means the value was forgotten.
 */
function tokenize(spec: CliSpec, options: Options, argv: string[]): Given {
  const given: Given = new Map();
  const shorts = new Map<string, string>(Object.entries(options).flatMap(([name, o]) => (o.short ? [[`-${o.short}`, name]] : [])));
  const optionName = (word: string): string | undefined => {
    if (shorts.has(word)) return shorts.get(word);
    const name = word.startsWith('--') ? word.slice(2).split('=')[0] : undefined;
    return name !== undefined && name in options ? name : undefined;
  };
  const usage = `run npx tsx scripts/${spec.name} --help`;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    const name = optionName(word);
    if (name === undefined) {
      if (word.startsWith('-') && word !== '-') {
        const typed = word.split('=')[0] as string;
        if (typed === '--env-file' && spec.envFileOption === false)
          throw new BadInputError(`${spec.name}: unknown option --env-file.`, `${spec.name} writes its file with --out <file>; ${NODE20_ENV_FILE_NOTE}`);
        throw new BadInputError(`${spec.name}: unknown option ${typed}.`, usage);
      }
      // Not shown: `--set PASSWORD s3cret` (a space for the =) would print the secret.
      throw new BadInputError(
        `${spec.name}: unexpected word ${i + 1} on the command line (not shown); every value follows its option, flags take none.`,
        usage,
      );
    }
    const option = options[name] as OptionSpec;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    let raw: string | undefined;
    if (option.kind === flag) {
      if (eq >= 0) throw new BadInputError(`--${name} takes no value.`, usage);
    } else if (eq >= 0) raw = word.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || optionName(next) !== undefined)
        throw new BadInputError(`--${name} needs a value: ${option.value ?? option.kind.placeholder}.`, `${option.kind.summary}; ${usage}`);
      raw = next;
      i++;
    }
    const list = given.get(name) ?? [];
    list.push(raw);
    given.set(name, list);
    if (list.length > 1 && !option.multiple) throw new BadInputError(`--${name} is given twice; pass it once.`, 'the last one would win silently');
  }
  return given;
}

const defaultRaw = (option: OptionSpec | undefined, env: EnvName): string | undefined =>
  typeof option?.default === 'function' ? option.default(env) : option?.default;

function envOf(spec: CliSpec, given: Given, now: Date, cwd: string): EnvName {
  const ctx = (flagName: string): KindContext => ({ flag: flagName, env: spec.defaultEnv ?? 'prod', cwd, now, given: (name) => given.has(name) });
  const envRaw = given.get('env')?.[0];
  let env: EnvName = spec.defaultEnv ?? 'prod';
  if (envRaw !== undefined) {
    checkHygiene(envRaw, ctx('--env'), '<dev|prod>');
    env = oneOf(ENV_NAMES).parse(envRaw, ctx('--env')) as EnvName;
  } else if (spec.envAlias && given.has(spec.envAlias.option)) {
    const alias = spec.envAlias;
    const raw = given.get(alias.option)?.[0] as string;
    checkHygiene(raw, ctx(`--${alias.option}`), '');
    env = alias.values[oneOf(Object.keys(alias.values)).parse(raw, ctx(`--${alias.option}`)) as string] as EnvName;
  }
  if (spec.envs && !(spec.envs.allowed as readonly string[]).includes(env)) {
    throw new BadInputError(`${spec.name} runs only with --env ${spec.envs.allowed.join(' or ')}, not "${env}"; ${spec.envs.otherwise}`);
  }
  return env;
}

async function parseValue(option: OptionSpec, raw: string, ctx: KindContext): Promise<unknown> {
  if (!option.kind.ownHygiene) checkHygiene(raw, ctx, option.value ?? option.kind.placeholder);
  return option.kind.parse(raw, ctx);
}

/**
 * Parses and checks the command line: options and their kinds, relations,
 * the env. Everything is refused here, before the script's body runs, whether
 * or not --dry-run is given.
 */
export async function parseCli<O extends Options>(spec: CliSpec<O>, argv: string[], at: { cwd?: string; now?: Date } = {}): Promise<CliArgs<O> | 'help'> {
  const options = allOptions(spec as CliSpec);
  if (argv.some((word) => word === '--help' || word === '-h')) return 'help';
  const given = tokenize(spec as CliSpec, options, argv);
  const now = at.now ?? new Date();
  const cwd = at.cwd ?? process.cwd();
  const stated = (name: string): string | undefined => {
    const fallback = options[name]?.default;
    return given.get(name)?.[0] ?? (typeof fallback === 'string' ? fallback : undefined);
  };
  checkRelations(spec.relations ?? [], options, stated, (name) => given.has(name));
  const env = envOf(spec as CliSpec, given, now, cwd);
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(options)) {
    const ctx: KindContext = { flag: `--${name}`, env, cwd, now, given: (other) => given.has(other) };
    const raws = given.get(name);
    if (option.kind === flag) values[name] = raws !== undefined;
    else if (option.multiple) {
      values[name] = [];
      for (const raw of raws ?? []) (values[name] as unknown[]).push(await parseValue(option, raw as string, ctx));
    } else if (raws !== undefined) values[name] = await parseValue(option, raws[0] as string, ctx);
    else {
      // A default goes through the same kind: a dry run refuses a bad one as the real run does.
      const raw = defaultRaw(option, env);
      values[name] = raw === undefined ? undefined : await parseValue(option, raw, { ...ctx, flag: `${ctx.flag} (default)`, fromDefault: true });
    }
  }
  const overrides: Record<string, string> = {};
  for (const [variable, value] of (values.set as [string, string][] | undefined) ?? []) {
    if (variable in overrides) throw new BadInputError(`--set ${variable} is given twice; pass it once.`, 'the last one would win silently');
    overrides[variable] = value;
  }
  return {
    env,
    ...(typeof values['env-file'] === 'string' ? { envFile: values['env-file'] } : {}),
    overrides,
    dryRun: values['dry-run'] === true,
    verbose: values.verbose === true,
    values: values as OptionValues<O>,
  };
}

/**
 * Runs a script's main function with the shared conventions: --help, exit
 * codes (0/1/2), one-sentence errors with a hint, stack traces only with
 * --verbose, cleanups on every exit path.
 */
export async function runCli<O extends Options>(spec: CliSpec<O>, main: (args: CliArgs<O>) => Promise<void>, argv = process.argv.slice(2)): Promise<void> {
  keepBashFromRcFiles();
  let verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    const args = await parseCli(spec, argv);
    if (args === 'help') {
      process.stdout.write(`${helpText(spec as CliSpec)}\n`);
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

/**
 * zx runs each command with `bash -c` and a socket as stdin. bash takes that for an rsh login and
 * reads the user's ~/.bashrc first unless SHLVL says it is nested: under cron, systemd or CI
 * (SHLVL unset) every command would run the operator's rc file (pyenv init, a blocking lock…).
 */
function keepBashFromRcFiles(): void {
  if (!(Number(process.env.SHLVL) >= 1)) process.env.SHLVL = '1';
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
