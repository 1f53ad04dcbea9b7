import { runCli } from './lib/cli.js';

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
  async (args) => (await import('./lib/env/init-file.js')).initEnv(args),
);
