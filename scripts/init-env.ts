import { randomBytes } from 'node:crypto';
import { runCli } from './lib/cli.js';
import { EXAMPLE_SECRET, envExampleText } from './lib/env/example.js';
import { isVarName, SCHEMA } from './lib/env/schema.js';
import { defaultFor, type EnvName } from './lib/env/spec.js';
import { BadInputError } from './lib/errors.js';
import { writeNewFile } from './lib/fs-atomic.js';
import { log } from './lib/log.js';

function hasOwnDefault(line: string, env: EnvName, domainGiven: boolean): boolean {
  const name = /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
  if (!name || (name === 'DOMAIN' && domainGiven) || !isVarName(name)) return false;
  return defaultFor(SCHEMA[name], env) !== undefined;
}

await runCli(
  {
    name: 'init-env.ts',
    summary: 'Write a new .env.<env> (mode 0600) from .env.example with every secret set to a strong random value. Never overwrites an existing file.',
    dryRun: true,
    options: {
      domain: { type: 'string', value: '<name>', description: 'public DNS name to set as DOMAIN' },
    },
    examples: ['npx tsx scripts/init-env.ts --env prod --domain api.healthmate.org'],
  },
  async (args) => {
    const file = args.envFile ?? `.env.${args.env}`;
    const domain = typeof args.values.domain === 'string' ? args.values.domain : undefined;
    const text = envExampleText()
      .split('\n')
      .filter((line) => !line.startsWith('# HealthMate deploy settings. Generated'))
      .map((line) => (line.endsWith(`=${EXAMPLE_SECRET}`) ? line.replace(EXAMPLE_SECRET, randomBytes(32).toString('base64url')) : line))
      .map((line) => (domain && line.startsWith('DOMAIN=') ? `DOMAIN=${domain}` : line))
      // The example sets what prod requires; another env keeps its own defaults for those.
      .map((line) => (hasOwnDefault(line, args.env, domain !== undefined) ? `# ${line}` : line))
      .join('\n');
    if (args.dryRun) {
      log.info(`would write ${file} (0600) with random secrets`);
      return;
    }
    try {
      writeNewFile(file, text, 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new BadInputError(`${file} already exists; init-env never overwrites it.`, 'edit it, or move it away first');
      throw new BadInputError(`${file} cannot be written (${code ?? 'error'}).`);
    }
    log.info(`wrote ${file} (0600). Review DOMAIN and the other values, then run check.ts --env ${args.env}.`);
  },
);
