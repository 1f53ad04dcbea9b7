import type { Deriver } from '../render/derived.js';

// Passive health check: after 3 failures in 10 s a replica rests for 10 s.
const SERVER_PARAMS = 'max_fails=3 fail_timeout=10s';

/** Template values the edge area computes from the env. */
export const deriveEdge: Deriver = (env) => {
  const { BACKEND_UPSTREAM, NGINX_MONITORING_CIDRS, NGINX_HTTPS_PORT } = env.values;
  return {
    values: {
      // One `server` line per backend address, indented for the upstream block.
      NGINX_UPSTREAM_SERVERS: BACKEND_UPSTREAM.split(',')
        .map((address) => `    server ${address} ${SERVER_PARAMS};`)
        .join('\n'),
      // The names nginx-entrypoint/40-reload-on-backend-change.sh watches for addresses that went away.
      NGINX_BACKEND_HOSTS: [...new Set(BACKEND_UPSTREAM.split(',').map((address) => address.replace(/:\d+$/, '')))].join(' '),
      NGINX_MONITORING_ALLOW: NGINX_MONITORING_CIDRS.split(',')
        .map((cidr) => `allow ${cidr};`)
        .join('\n'),
      // Browsers need the port in the redirect unless HTTPS is on 443.
      NGINX_HTTPS_PORT_SUFFIX: NGINX_HTTPS_PORT === 443 ? '' : `:${NGINX_HTTPS_PORT}`,
    },
  };
};
