import { bundle, name } from '../kinds.js';

/** Options deploy-k8s.ts takes (deploy-prod.ts --target k8s accepts them too and passes them on). */
export const K8S_CLI_OPTIONS = {
  context: {
    kind: name('<name>', /^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,252}$/, 'a kubeconfig context name (letters, digits, _ . : @ / -)'),
    description: 'kubeconfig context to deploy to (default K8S_CONTEXT; never the current context)',
  },
  bundle: { kind: bundle, description: 'deploy this rendered bundle (dist/<env>) instead of rendering now' },
} as const;
