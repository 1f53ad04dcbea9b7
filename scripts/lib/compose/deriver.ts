import { resolve } from 'node:path';
import { CLUSTER_SERVICES, POSTGRES_PORT } from '../cluster/topology.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import type { Deriver } from '../render/derived.js';
import { capacityProblem, SUPERUSER_RESERVED_CONNECTIONS } from './capacity.js';

/**
 * Where the application reaches PostgreSQL. Production: HAProxy on its own
 * host, whose write port leads to the Patroni leader and read port to the
 * replicas (the leader when none is up). Dev: its one PostgreSQL, both ways.
 */
export function databaseEndpoints(env: LoadedEnv): { write: string; read: string } {
  if (env.name !== 'prod') return { write: `postgres:${POSTGRES_PORT}`, read: `postgres:${POSTGRES_PORT}` };
  const haproxy = CLUSTER_SERVICES.haproxy;
  return { write: `${haproxy}:${env.values.HAPROXY_WRITE_PORT}`, read: `${haproxy}:${env.values.HAPROXY_READ_PORT}` };
}

function portOf(listen: string): string {
  return listen.split(':').pop() as string;
}

/** Redis config strings are double-quoted with backslash escapes. */
function redisQuoted(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Connection strings and per-consumer copies of secrets. Each consumer gets
 * its own file because compose file secrets are bind mounts that keep the host
 * file's owner, and the deploy chowns each file to the one uid that reads it.
 */
export const deriveStack: Deriver = (env) => {
  const problem = capacityProblem(env.values);
  if (problem) throw new BadInputError(problem);
  const pgPassword = env.secrets.POSTGRES_PASSWORD;
  const redisPassword = env.secrets.REDIS_PASSWORD;
  const { POSTGRES_USER, POSTGRES_DB } = env.values;
  const secretFiles: Record<string, string> = {};
  if (pgPassword !== undefined) {
    const endpoints = databaseEndpoints(env);
    const url = (endpoint: string): string =>
      `postgresql+asyncpg://${encodeURIComponent(POSTGRES_USER)}:${encodeURIComponent(pgPassword)}@${endpoint}/${POSTGRES_DB}`;
    secretFiles.database_url = url(endpoints.write);
    secretFiles.database_read_url = url(endpoints.read);
    secretFiles.postgres_exporter_password = pgPassword;
  }
  if (redisPassword !== undefined) {
    secretFiles.redis_url = `redis://:${encodeURIComponent(redisPassword)}@redis:6379/0`;
    secretFiles['redis_auth.conf'] = `requirepass ${redisQuoted(redisPassword)}\n`;
    secretFiles['redis_exporter_passwords.json'] = `${JSON.stringify({ 'redis://redis:6379': redisPassword })}\n`;
  }
  return {
    values: {
      // postgres_exporter connects where the backend writes: the leader, through HAProxy in production.
      POSTGRES_EXPORTER_ENDPOINT: databaseEndpoints(env).write,
      POSTGRES_SUPERUSER_RESERVED_CONNECTIONS: SUPERUSER_RESERVED_CONNECTIONS,
      // The first CIDR nginx trusts for /metrics is the subnet compose pins for the monitoring network.
      MONITORING_SUBNET: env.values.NGINX_MONITORING_CIDRS.split(',')[0] as string,
      // nginx listens on [address:]port inside its container; compose publishes to the port.
      NGINX_CONTAINER_HTTP_PORT: portOf(env.values.NGINX_LISTEN_HTTP),
      NGINX_CONTAINER_HTTPS_PORT: portOf(env.values.NGINX_LISTEN_HTTPS),
      // Compose resolves relative bind sources against the compose file's folder, not the working directory.
      HEALTHMATE_SRC_ABS: resolve(env.values.HEALTHMATE_SRC),
    },
    secretFiles,
  };
};
