import { randomBytes } from 'node:crypto';
import { runCli } from './lib/cli.js';
import { EXAMPLE_SECRET, envExampleText } from './lib/env/example.js';
import { formatProblem, loadEnv, parseEnvFile } from './lib/env/load.js';
import { isVarName, SCHEMA } from './lib/env/schema.js';
import { defaultFor, type EnvName } from './lib/env/spec.js';
import { BadInputError } from './lib/errors.js';
import { writeNewFile } from './lib/fs-atomic.js';
import { log } from './lib/log.js';

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

await runCli(
  {
    name: 'init-env.ts',
    summary:
      'Write a new env file (mode 0600, default .env.<env>) from .env.example with every secret set to a strong random value, and the values of --domain and --set. Every value is checked with the env schema first. Never overwrites an existing file.',
    dryRun: true,
    envFileOption: false,
    options: {
      out: { type: 'string', value: '<file>', description: 'file to write (default .env.<env>); Node 20 claims --env-file, so init-env takes --out' },
      domain: { type: 'string', value: '<name>', description: 'public DNS name to set as DOMAIN (same as --set DOMAIN=<name>)' },
      set: { type: 'string', multiple: true, value: '<NAME=value>', description: 'write this value into the new file (repeatable; checked with the schema)' },
    },
    examples: [
      'npx tsx scripts/init-env.ts --env prod --domain api.healthmate.org',
      'npx tsx scripts/init-env.ts --env prod --out /etc/healthmate/.env.prod --set STATE_DIR=/srv/healthmate',
    ],
  },
  async (args) => {
    const file = typeof args.values.out === 'string' ? args.values.out : `.env.${args.env}`;
    const given: Record<string, string> = { ...args.overrides };
    if (typeof args.values.domain === 'string') {
      if (given.DOMAIN !== undefined && given.DOMAIN !== args.values.domain) throw new BadInputError('--domain and --set DOMAIN=... disagree; pass one.');
      given.DOMAIN = args.values.domain;
    }
    // Every value given is checked with the schema every other script uses, before it becomes a line...
    loadEnv({
      env: args.env,
      envFile: file,
      fileText: envExampleText(),
      overrides: given,
      overrideSource: '--set or --domain',
      processEnv: {},
      purpose: 'plan',
    });
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
      writeNewFile(file, text, 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new BadInputError(`${file} already exists; init-env never overwrites it.`, 'edit it, or move it away first');
      throw new BadInputError(`${file} cannot be written (${code ?? 'error'}).`, 'pass a writable path with --out');
    }
    log.info(
      `wrote ${file} (0600). Review DOMAIN and the other values, then run check.ts --env ${args.env}${file === `.env.${args.env}` ? '' : ` --env-file ${file}`}.`,
    );
  },
);
