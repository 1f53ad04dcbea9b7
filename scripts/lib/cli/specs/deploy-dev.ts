import { defineCli } from '../../cli.js';
import { flag } from '../kinds.js';
import { skipCheckOption } from './skip-check.js';

export const SPEC = defineCli({
  name: 'deploy-dev.ts',
  summary: 'Render the dev bundle, bring the dev stack up (hot-reloading backend, Prometheus, Grafana, Mailhog, all on 127.0.0.1) and print the URLs.',
  dryRun: true,
  defaultEnv: 'dev',
  envs: { allowed: ['dev'], otherwise: 'production is deployed by deploy-prod.ts.' },
  options: {
    build: { kind: flag, description: 'rebuild the backend dev image from HEALTHMATE_SRC (compose/backend/Dockerfile.dev)' },
    'skip-check': skipCheckOption('start without this check (nginx, promtool, amtool…; repeatable)'),
  },
  examples: ['npx tsx scripts/deploy-dev.ts', 'npx tsx scripts/deploy-dev.ts --build', 'npx tsx scripts/deploy-dev.ts --dry-run'],
});
