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
  K8S_CNPG_NAMESPACE: v.str({
    description: 'Namespace of the CloudNativePG operator pods (the NetworkPolicies let them reach the PostgreSQL instances).',
    pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    patternHint: 'must be a DNS label',
    default: 'cnpg-system',
  }),
  K8S_CLUSTER_ISSUER: v.str({
    description: 'Name of the cert-manager ACME ClusterIssuer (k8s/certificate.yaml) that issues the Ingress certificate.',
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
  K8S_CLUSTER_ISSUER_EMAIL: v.str({
    description: "Contact e-mail of the ACME account the ClusterIssuer registers (Let's Encrypt sends expiry warnings there).",
    pattern: /^[^\s@]+@[^\s@]+$/,
    patternHint: 'must be an e-mail address',
    default: 'ops@healthmate.example',
  }),
  K8S_ACME_SERVER: v.str({
    description: 'ACME directory the ClusterIssuer uses; the staging directory is for trying the setup without rate limits.',
    pattern: /^https:\/\/\S+$/,
    patternHint: 'must be an https URL',
    default: { dev: 'https://acme-staging-v02.api.letsencrypt.org/directory', prod: 'https://acme-v02.api.letsencrypt.org/directory' },
  }),
  K8S_POSTGRES_IMAGE: v.image({
    description: 'CloudNativePG operand image (PostgreSQL 15, pinned tag); backups run in the Barman Cloud Plugin sidecar, so the minimal image is enough.',
    default: 'ghcr.io/cloudnative-pg/postgresql:15.13-minimal-bookworm',
  }),
  K8S_POSTGRES_STORAGE_SIZE: v.str({
    description: 'PersistentVolume size of each CloudNativePG instance (data directory and WAL).',
    pattern: /^[1-9]\d*(Mi|Gi|Ti)$/,
    patternHint: 'must be a Kubernetes quantity such as 50Gi',
    default: { dev: '5Gi', prod: '50Gi' },
  }),
  K8S_POSTGRES_MAX_CONNECTIONS: v.int({
    description:
      'max_connections of each CloudNativePG instance; the policy check fails when the backend and worker HPA maxima (plus rollout surge) could open more.',
    min: 20,
    max: 10000,
    default: '1000',
  }),
  K8S_BACKUP_DESTINATION: v.str({
    description: 'Object-store path CloudNativePG archives WAL and base backups to (Barman Cloud Plugin ObjectStore destinationPath).',
    pattern: /^(s3|gs|https):\/\/[^\s]+$/,
    patternHint: 'must be an s3://, gs:// or https:// (Azure) URL',
    default: 's3://healthmate-backups/postgres',
  }),
  K8S_BACKUP_ENDPOINT_URL: v.str({
    description: 'S3 endpoint of the object store (for S3-compatible stores and regional AWS endpoints).',
    pattern: /^https:\/\/\S+$/,
    patternHint: 'must be an https URL: backups of health data never travel in clear text',
    default: 'https://s3.eu-central-1.amazonaws.com',
  }),
  K8S_BACKUP_RETENTION: v.str({
    description: 'How long base backups and WAL stay in the object store (Barman retention policy, days or weeks).',
    pattern: /^[1-9]\d*[dw]$/,
    patternHint: 'must be a number of days or weeks, like 30d',
    default: '30d',
  }),
  K8S_BACKUP_S3_ACCESS_KEY_ID: v.secret({
    description: 'Access key id CloudNativePG uses to write backups to the object store.',
    default: { dev: 'dev-backup-access-key-id' },
  }),
  K8S_BACKUP_S3_SECRET_ACCESS_KEY: v.secret({
    description: 'Secret access key for K8S_BACKUP_S3_ACCESS_KEY_ID.',
    default: { dev: 'dev-backup-secret-access-key' },
  }),
};
