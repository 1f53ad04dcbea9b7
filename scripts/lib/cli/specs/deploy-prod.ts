import { defineCli } from '../../cli.js';
import { flag, oneOf, text } from '../kinds.js';
import { K8S_CLI_OPTIONS } from './k8s.js';
import { skipCheckOption } from './skip-check.js';

const COMPOSE_ONLY = ['skip-backup', 'skip-check', 'rollback', 'status', 'force-unlock', 'reason'];

export const SPEC = defineCli({
  name: 'deploy-prod.ts',
  summary:
    'Deploy HealthMate with Compose: lock, render, check, certificates, backup, pull, datastores, migrations, zero-downtime rolling update of backend and workers, monitoring, smoke test, audit log. A failure during or after the rolling update rolls back to the previous tag.',
  dryRun: true,
  defaultEnv: 'prod',
  envs: { allowed: ['prod'], otherwise: 'the dev stack is brought up by deploy-dev.ts.' },
  options: {
    'skip-backup': { kind: flag, description: 'do not back up the database before migrations' },
    'skip-check': skipCheckOption(
      'deploy without this check (nginx, promtool, amtool, blackbox-exporter, docker-compose, systemd-analyze…; repeatable; recorded in the audit log)',
    ),
    rollback: { kind: flag, description: 'roll back to the previous release (state.json on the engine host) with the same rolling procedure' },
    status: { kind: flag, description: 'show the current and previous release, the lock holder, the last audit entries and replica health (read only)' },
    'force-unlock': { kind: flag, description: 'remove a deploy lock whose holder is gone (needs --reason, recorded in the audit log)' },
    reason: { kind: text(), description: 'why the lock is forced open (with --force-unlock)' },
    target: { kind: oneOf(['compose', 'k8s']), default: 'compose', description: 'where to deploy; k8s runs scripts/deploy-k8s.ts' },
    // Accepted here so `--target k8s` can pass them on to deploy-k8s.ts.
    ...K8S_CLI_OPTIONS,
  },
  relations: [
    { option: 'target=k8s', excludes: COMPOSE_ONLY, why: 'deploy-k8s.ts has no such option' },
    { option: 'context', only: ['target=k8s'] },
    { option: 'bundle', only: ['target=k8s'] },
    { oneOf: ['status', 'force-unlock', 'rollback'] },
    { option: 'reason', only: ['force-unlock'] },
    { option: 'force-unlock', needs: ['reason'], why: "say why the lock's holder is gone (it goes into the audit log)" },
    { option: 'status', excludes: ['dry-run', 'skip-backup', 'skip-check'], why: '--status only reads' },
    { option: 'force-unlock', excludes: ['skip-backup', 'skip-check'], why: 'it only removes the lock' },
    { option: 'rollback', excludes: ['skip-backup', 'skip-check'], why: 'a rollback runs neither the backup nor the checks' },
  ],
  examples: [
    'npx tsx scripts/deploy-prod.ts --env-file .env.example --dry-run',
    'npx tsx scripts/deploy-prod.ts --env-file .env.prod --set BACKEND_TAG=1.4.2',
    'DOCKER_HOST=ssh://deploy@api.healthmate.org npx tsx scripts/deploy-prod.ts --env-file .env.prod',
    'npx tsx scripts/deploy-prod.ts --env-file .env.prod --rollback',
    'DOCKER_HOST=ssh://deploy@api.healthmate.org npx tsx scripts/deploy-prod.ts --env-file .env.prod --status',
    'npx tsx scripts/deploy-prod.ts --env-file .env.prod --force-unlock --reason "laptop crashed mid-deploy"',
  ],
});
