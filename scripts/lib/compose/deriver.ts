import { resolve } from 'node:path';
import { BadInputError } from '../errors.js';
import type { Deriver } from '../render/derived.js';
import { capacityProblem, SUPERUSER_RESERVED_CONNECTIONS } from './capacity.js';

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
    secretFiles.database_url = `postgresql+asyncpg://${encodeURIComponent(POSTGRES_USER)}:${encodeURIComponent(pgPassword)}@postgres:5432/${POSTGRES_DB}`;
    secretFiles.postgres_exporter_password = pgPassword;
  }
  if (redisPassword !== undefined) {
    secretFiles.redis_url = `redis://:${encodeURIComponent(redisPassword)}@redis:6379/0`;
    secretFiles['redis_auth.conf'] = `requirepass ${redisQuoted(redisPassword)}\n`;
    secretFiles['redis_exporter_passwords.json'] = `${JSON.stringify({ 'redis://redis:6379': redisPassword })}\n`;
  }
  return {
    values: {
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
