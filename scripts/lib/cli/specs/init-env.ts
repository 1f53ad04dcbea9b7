import { defineCli } from '../../cli.js';
import { assignment, dnsName, newFile } from '../kinds.js';

export const SPEC = defineCli({
  name: 'init-env.ts',
  summary:
    'Write a new env file (mode 0600, default .env.<env>) from .env.example with every secret set to a strong random value, and the values of --domain and --set. Every value is checked with the env schema first. Never overwrites an existing file.',
  dryRun: true,
  envFileOption: false,
  options: {
    out: {
      kind: newFile,
      default: (env) => `.env.${env}`,
      description: 'file to write (default .env.<env>); Node 20 claims --env-file, so init-env takes --out',
    },
    domain: { kind: dnsName, description: 'public DNS name to set as DOMAIN (same as --set DOMAIN=<name>)' },
    set: { kind: assignment, multiple: true, description: 'write this value into the new file (repeatable, once per NAME; checked with the schema)' },
  },
  examples: [
    'npx tsx scripts/init-env.ts --env prod --domain api.healthmate.org',
    'npx tsx scripts/init-env.ts --env prod --out /etc/healthmate/.env.prod --set STATE_DIR=/srv/healthmate',
  ],
});
