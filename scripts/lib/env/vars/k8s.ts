import { v } from '../spec.js';

/** The Kubernetes deploy path. */
export const k8sVars = {
  K8S_NAMESPACE: v.str({
    description: 'Kubernetes namespace HealthMate is deployed into.',
    pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: { dev: 'healthmate-dev', prod: 'healthmate' },
  }),
  K8S_CONTEXT: v.str({
    description: 'kubeconfig context deploy-k8s.ts uses (or pass --context); empty means refuse to deploy rather than use the current context.',
    pattern: /^[A-Za-z0-9@._:/-]*$/,
    patternHint: 'must be a kubeconfig context name',
    default: '',
  }),
  K8S_INGRESS_CLASS: v.str({
    description: 'IngressClass of the ingress-nginx controller that serves the API.',
    pattern: /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: 'nginx',
  }),
  K8S_INGRESS_NAMESPACE: v.str({
    description: 'Namespace of the ingress controller pods (the only source allowed to reach the backend).',
    pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: 'ingress-nginx',
  }),
  K8S_MONITORING_NAMESPACE: v.str({
    description: 'Namespace of the Prometheus that scrapes HealthMate pods.',
    pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: 'monitoring',
  }),
  K8S_CLUSTER_ISSUER: v.str({
    description: 'cert-manager ClusterIssuer named on the Ingress; ignored when cert-manager is not installed (then create the TLS Secret yourself).',
    pattern: /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/,
    patternHint: 'must be a DNS subdomain name',
    default: 'letsencrypt-prod',
  }),
  K8S_ROLLOUT_TIMEOUT: v.str({
    description: 'How long deploy-k8s.ts waits for each workload rollout before rolling back (kubectl duration: 90s, 5m, 1h).',
    pattern: /^[1-9]\d*(s|m|h)$/,
    patternHint: 'must be a duration in seconds, minutes or hours, like 5m',
    default: '5m',
  }),
  POSTGRES_REPLICATION_PASSWORD: v.secret({
    description: 'Password of the PostgreSQL replication role the Kubernetes read replicas stream WAL with.',
    default: { dev: 'dev-postgres-replication-password' },
  }),
};
