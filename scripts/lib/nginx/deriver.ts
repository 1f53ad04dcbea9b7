import type { Deriver } from '../render/derived.js';

// Passive health check: after 3 failures in 10 s a replica rests for 10 s.
const PRIMARY_PARAMS = 'max_fails=3 fail_timeout=10s';
// The same addresses again as backups that never rest: nginx asks backups only when every
// primary is resting, which is when all replicas answered 503 together (the database was down).
// Without them nginx answers 502 "no live upstreams" for up to fail_timeout after the replicas
// are healthy again; with them the first healthy answer goes straight to the client.
const BACKUP_PARAMS = 'backup max_fails=0';

/** Template values the edge area computes from the env. */
export const deriveEdge: Deriver = (env) => {
  const { BACKEND_UPSTREAM, NGINX_MONITORING_CIDRS, NGINX_HTTPS_PORT } = env.values;
  const addresses = BACKEND_UPSTREAM.split(',');
  return {
    values: {
      // One `server` line per backend address and role, indented for the upstream block.
      NGINX_UPSTREAM_SERVERS: [PRIMARY_PARAMS, BACKUP_PARAMS].flatMap((params) => addresses.map((address) => `    server ${address} ${params};`)).join('\n'),
      // The names nginx-entrypoint/40-reload-on-backend-change.sh watches for addresses that went away.
      NGINX_BACKEND_HOSTS: [...new Set(addresses.map((address) => address.replace(/:\d+$/, '')))].join(' '),
      NGINX_MONITORING_ALLOW: NGINX_MONITORING_CIDRS.split(',')
        .map((cidr) => `allow ${cidr};`)
        .join('\n'),
      // Browsers need the port in the redirect unless HTTPS is on 443.
      NGINX_HTTPS_PORT_SUFFIX: NGINX_HTTPS_PORT === 443 ? '' : `:${NGINX_HTTPS_PORT}`,
    },
  };
};
