import { defineCli } from '../../cli.js';
import { flag, output } from '../kinds.js';

export const SPEC = defineCli({
  name: 'render.ts',
  summary:
    'Render the configs in compose/, nginx/, monitoring/, k8s/ and backups/ into a self-contained bundle dist/<env>/ (secrets as 0600 files under secrets/; SHA256SUMS and up.sh bring it up on a host without Node).',
  dryRun: true,
  options: {
    out: { kind: output('check'), default: 'dist', description: 'output root: the bundle goes to <out>/<env>, replacing only a bundle rendered before' },
    check: { kind: flag, description: 'report drift between <out>/<env> and a fresh render; exit 1 on drift' },
  },
  relations: [{ option: 'check', excludes: ['dry-run'], why: '--check only reads' }],
  examples: ['npx tsx scripts/render.ts --env prod --env-file .env.example', 'npx tsx scripts/render.ts --env dev --check'],
});
