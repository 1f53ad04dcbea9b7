import { defineCli } from '../../cli.js';
import { K8S_CLI_OPTIONS } from './k8s.js';

export const SPEC = defineCli({
  name: 'deploy-k8s.ts',
  summary:
    "Deploy HealthMate to Kubernetes: render, validate (schemas and policy), check the operators' CRDs (CloudNativePG, Barman Cloud Plugin, Prometheus Operator, cert-manager, VPA), create the Secrets from secrets files, apply in dependency order, wait for the PostgreSQL Cluster and every rollout, smoke-check the backend, then monitors and the certificate and Ingress; on failure roll the Deployments back and exit 1.",
  dryRun: true,
  options: K8S_CLI_OPTIONS,
  examples: [
    'npx tsx scripts/deploy-k8s.ts --env prod --context prod-cluster --dry-run',
    'npx tsx scripts/deploy-k8s.ts --env prod --env-file .env.prod --context prod-cluster',
  ],
});
