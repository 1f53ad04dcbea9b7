import { v } from '../spec.js';

/** Nginx and TLS. */
export const edgeVars = {
  NGINX_HTTP_PORT: v.port({ description: 'Host port nginx publishes for plain HTTP (redirects and ACME).', default: { dev: '8080', prod: '80' } }),
  NGINX_HTTPS_PORT: v.port({ description: 'Host port nginx publishes for HTTPS.', default: { dev: '8443', prod: '443' } }),
};
