import { v } from '../spec.js';

/** The Kubernetes deploy path. */
export const k8sVars = {
  K8S_NAMESPACE: v.str({
    description: 'Kubernetes namespace HealthMate is deployed into.',
    pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: { dev: 'healthmate-dev', prod: 'healthmate' },
  }),
};
