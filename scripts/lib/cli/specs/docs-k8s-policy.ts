import { defineCli } from '../../cli.js';

export const SPEC = defineCli({
  name: 'docs-k8s-policy.ts',
  summary: 'Regenerate the Kubernetes policy rules table in docs/kubernetes.md from the rule list (scripts/lib/k8s/policy/).',
  envOptions: false,
  dryRun: true,
  options: {},
});
