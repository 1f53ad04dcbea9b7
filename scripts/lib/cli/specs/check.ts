import { defineCli } from '../../cli.js';
import { bundle } from '../kinds.js';

export const SPEC = defineCli({
  name: 'check.ts',
  summary:
    'Render the env (or read an existing bundle) and run every validator: syntax, placeholders, secret leaks, nginx -t, promtool, amtool, compose config, Kubernetes schemas, dashboards. A promtool rule test that passed before on the same promtool and files is not run again (HEALTHMATE_CHECK_CACHE=off runs all).',
  options: {
    bundle: { kind: bundle, description: 'check this rendered bundle instead of rendering now' },
  },
  examples: ['npx tsx scripts/check.ts --env prod --env-file .env.example', 'npx tsx scripts/check.ts --env prod --bundle dist/prod'],
});
