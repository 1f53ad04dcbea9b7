import { randomBytes } from 'node:crypto';
import { relative } from 'node:path';
import type { EnvArgs } from '../cli.js';
import { BadInputError } from '../errors.js';
import { writeNewFile } from '../fs-atomic.js';
import { log } from '../log.js';
import { EXAMPLE_SECRET, envExampleText } from './example.js';
import { EnvError, formatProblem, loadEnv, parseEnvFile } from './load.js';
import { isVarName, SCHEMA, SECRET_NAMES } from './schema.js';
import { defaultFor, type EnvName } from './spec.js';

function hasOwnDefault(line: string, env: EnvName, given: Record<string, string>): boolean {
  const name = /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
  if (!name || name in given || !isVarName(name)) return false;
  return defaultFor(SCHEMA[name], env) !== undefined;
}

/** The new file: the example with random secrets, then every value given by --domain or --set. */
function envFileText(env: EnvName, given: Record<string, string>): string {
  const lines = envExampleText()
    .split('\n')
    .filter((line) => !line.startsWith('# HealthMate deploy settings. Generated'))
    .map((line) => (line.endsWith(`=${EXAMPLE_SECRET}`) ? line.replace(EXAMPLE_SECRET, randomBytes(32).toString('base64url')) : line))
    // The example sets what prod requires; another env keeps its own defaults for those.
    .map((line) => (hasOwnDefault(line, env, given) ? `# ${line}` : line));
  const placed = new Set<string>();
  const withGiven = lines.map((line) => {
    const name = /^#? ?([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
    if (!name || !(name in given) || placed.has(name)) return line;
    placed.add(name);
    return `${name}=${given[name]}`;
  });
  return withGiven.join('\n');
}

/** init-env.ts: writes a new env file (0600, never overwriting) with random secrets and the given values. */
export async function initEnv(args: EnvArgs, options: { out: string; domain?: string | undefined }): Promise<void> {
  // --out is absolute (its option kind checked it is new); messages show it as typed from here.
  const inCwd = relative(process.cwd(), options.out);
  const file = inCwd && !inCwd.startsWith('..') ? inCwd : options.out;
  const given: Record<string, string> = { ...args.overrides };
  if (options.domain !== undefined) {
    if (given.DOMAIN !== undefined && given.DOMAIN !== options.domain) throw new BadInputError('--domain and --set DOMAIN=... disagree; pass one.');
    given.DOMAIN = options.domain;
  }
  // Every value given is checked with the schema every other script uses, before it becomes a line...
  const givenEnv = loadEnv({
    env: args.env,
    envFile: file,
    fileText: envExampleText(),
    overrides: given,
    overrideSource: '--set or --domain',
    processEnv: {},
    purpose: 'plan',
  });
  // ...and a prod file gets no weak secret: a warning here would be the last anyone sees of it.
  // (The example's own placeholders are replaced with random values below.)
  const weak = givenEnv.warnings.filter((w) => w.variable !== undefined && w.variable in given && (SECRET_NAMES as readonly string[]).includes(w.variable));
  if (args.env === 'prod' && weak.length > 0) throw new EnvError(weak, 'leave the secret out and init-env makes a strong one, or give a strong random value');
  const text = envFileText(args.env, given);
  // ...and so is the whole file, as the other scripts will read it (the file's values only).
  const env = loadEnv({ env: args.env, envFile: file, fileText: text, processEnv: {}, purpose: 'plan' });
  // A value that does not read back as given (a # or quotes in it) must not be written changed.
  const written = parseEnvFile(file, text).entries;
  for (const [name, value] of Object.entries(given)) {
    if (written.get(name)?.value !== value)
      throw new BadInputError(`--set ${name}: its value does not survive being written to an env file as is; remove # and quotes.`);
  }
  for (const warning of env.warnings) log.warn(formatProblem(warning));
  if (args.dryRun) {
    log.info(`would write ${file} (0600) with random secrets${Object.keys(given).length ? ` and ${Object.keys(given).sort().join(', ')}` : ''}`);
    return;
  }
  try {
    writeNewFile(options.out, text, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Checked before; a file that appeared since is still never overwritten.
    if (code === 'EEXIST') throw new BadInputError(`${file} already exists; init-env never overwrites it.`, 'edit it, or move it away first');
    throw new BadInputError(`${file} cannot be written (${code ?? 'error'}).`, 'pass a writable path with --out');
  }
  log.info(
    `wrote ${file} (0600). Review DOMAIN and the other values, then run check.ts --env ${args.env}${file === `.env.${args.env}` ? '' : ` --env-file ${file}`}.`,
  );
}
