import { defineCli } from '../../cli.js';

export const SPEC = defineCli({
  name: 'env-example.ts',
  summary: 'Regenerate .env.example from the env schema (scripts/lib/env/vars).',
  envOptions: false,
  dryRun: true,
  options: {},
});
