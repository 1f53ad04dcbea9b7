import type { Deriver } from '../render/derived.js';

/**
 * CloudNativePG names a Cluster's Services <cluster>-rw (the primary) and
 * <cluster>-ro (the replicas). The Cluster in k8s/postgres-cluster.yaml is
 * called `postgres`.
 */
export const K8S_POSTGRES_CLUSTER = 'postgres';
export const K8S_WRITE_SERVICE = `${K8S_POSTGRES_CLUSTER}-rw`;
export const K8S_READ_SERVICE = `${K8S_POSTGRES_CLUSTER}-ro`;

/** Secret files with the Kubernetes connection URLs (they embed the password, so they are never template values). */
export const K8S_WRITE_URL_FILE = 'k8s_database_url';
export const K8S_READ_URL_FILE = 'k8s_database_read_url';

export const deriveK8s: Deriver = (env) => {
  const password = env.secrets.POSTGRES_PASSWORD;
  if (password === undefined) return {};
  const { POSTGRES_USER: user, POSTGRES_DB: db } = env.values;
  const url = (host: string) => `postgresql+asyncpg://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:5432/${encodeURIComponent(db)}`;
  return { secretFiles: { [K8S_WRITE_URL_FILE]: url(K8S_WRITE_SERVICE), [K8S_READ_URL_FILE]: url(K8S_READ_SERVICE) } };
};
