import type { Deriver } from '../render/derived.js';

/**
 * The Service the read replicas answer on (k8s/database-replicas.yaml). The
 * write URL (secrets/database_url, from the stack deriver) already points at
 * `postgres:5432`, which is also the primary's Service name in Kubernetes.
 */
export const K8S_READ_SERVICE = 'postgres-read';

/** Secret file with the read-replica URL (it embeds the password, so it is never a template value). */
export const K8S_READ_URL_FILE = 'k8s_database_read_url';

export const deriveK8s: Deriver = (env) => {
  const password = env.secrets.POSTGRES_PASSWORD;
  if (password === undefined) return {};
  const { POSTGRES_USER: user, POSTGRES_DB: db } = env.values;
  const url = `postgresql+asyncpg://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${K8S_READ_SERVICE}:5432/${encodeURIComponent(db)}`;
  return { secretFiles: { [K8S_READ_URL_FILE]: url } };
};
