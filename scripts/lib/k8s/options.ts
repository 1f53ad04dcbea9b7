import type { OptionSpec } from '../cli.js';

/** Options deploy-k8s.ts adds (deploy-prod.ts --target k8s can merge them into its own). */
export const K8S_CLI_OPTIONS: Record<string, OptionSpec> = {
  context: { type: 'string', value: '<name>', description: 'kubeconfig context to deploy to (default K8S_CONTEXT; never the current context)' },
  bundle: { type: 'string', value: '<dir>', description: 'deploy this rendered bundle (dist/<env>) instead of rendering now' },
};
