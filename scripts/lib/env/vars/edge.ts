import { v } from '../spec.js';

// nginx `listen` value: a port, or address:port (tests bind 127.0.0.1 only).
const LISTEN = /^((\d{1,3}\.){3}\d{1,3}:)?\d{1,5}$/;
const LISTEN_HINT = 'must be a port or address:port, like 443 or 127.0.0.1:8443';
// nginx limit_req rate.
const RATE = /^[1-9]\d*r\/[sm]$/;
const RATE_HINT = 'must be an nginx rate like 10r/s or 30r/m';
const HOST_PORT_LIST = /^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/;
const CIDR_LIST = /^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?(,(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?)*$/;

/** Nginx and TLS. */
export const edgeVars = {
  NGINX_HTTP_PORT: v.port({ description: 'Host port nginx publishes for plain HTTP (redirects and ACME).', default: { dev: '8080', prod: '80' } }),
  NGINX_HTTPS_PORT: v.port({
    description: 'Host port nginx publishes for HTTPS; the HTTP redirect points at it.',
    default: { dev: '8443', prod: '443' },
  }),
  NGINX_LISTEN_HTTP: v.str({
    description: 'Where nginx listens for HTTP inside its container (compose publishes NGINX_HTTP_PORT to it).',
    pattern: LISTEN,
    patternHint: LISTEN_HINT,
    default: '80',
  }),
  NGINX_LISTEN_HTTPS: v.str({
    description: 'Where nginx listens for HTTPS inside its container (compose publishes NGINX_HTTPS_PORT to it).',
    pattern: LISTEN,
    patternHint: LISTEN_HINT,
    default: '443',
  }),
  NGINX_LISTEN_STATUS: v.str({
    description: 'Where nginx serves stub_status for nginx-exporter (never published; monitoring network only).',
    pattern: LISTEN,
    patternHint: LISTEN_HINT,
    default: '8081',
  }),
  BACKEND_UPSTREAM: v.str({
    description:
      'Backend address(es) nginx balances over, comma-separated host:port; a compose service name resolves to every replica at nginx start or reload.',
    pattern: HOST_PORT_LIST,
    patternHint: 'must be host:port, comma-separated, like backend:8000',
    default: 'backend:8000',
  }),
  NGINX_MONITORING_CIDRS: v.str({
    description:
      'Comma-separated addresses/CIDRs allowed to read /metrics and stub_status through nginx: the monitoring network subnet compose pins. Everyone else gets 403.',
    pattern: CIDR_LIST,
    patternHint: 'must be IPv4 addresses or CIDRs, comma-separated, like 172.28.0.0/24',
    default: '172.28.0.0/24',
  }),
  NGINX_ACME_ROOT: v.str({
    description: 'Folder inside the nginx container where the ACME webroot (STATE_DIR/acme) is mounted for certbot http-01 challenges.',
    pattern: /^\/[^\s;{}]*$/,
    patternHint: 'must be an absolute path without spaces',
    default: '/var/www/acme',
  }),
  NGINX_RATE_API: v.str({ description: 'Per-IP request rate for the API.', pattern: RATE, patternHint: RATE_HINT, default: { dev: '100r/s', prod: '10r/s' } }),
  NGINX_BURST_API: v.int({
    description: 'Requests per IP the API lets through above the rate before answering 429.',
    min: 0,
    max: 10000,
    default: { dev: '200', prod: '20' },
  }),
  NGINX_RATE_AUTH: v.str({
    description: 'Per-IP request rate for login/auth/token paths (password guessing).',
    pattern: RATE,
    patternHint: RATE_HINT,
    default: { dev: '60r/m', prod: '10r/m' },
  }),
  NGINX_BURST_AUTH: v.int({
    description: 'Auth requests per IP let through above the auth rate before 429.',
    min: 0,
    max: 1000,
    default: { dev: '20', prod: '5' },
  }),
  NGINX_CONN_PER_IP: v.int({
    description: 'Concurrent connections nginx accepts from one client IP.',
    min: 1,
    max: 100000,
    default: { dev: '200', prod: '50' },
  }),
  NGINX_CLIENT_MAX_BODY_SIZE: v.str({
    description: 'Largest request body nginx accepts (larger gets 413).',
    pattern: /^\d+[km]?$/,
    patternHint: 'must be an nginx size like 10m or 512k',
    default: '10m',
  }),
  NGINX_OCSP_STAPLING: v.oneOf(['on', 'off'], {
    description: "OCSP stapling: on only for a certificate from a public CA that still runs OCSP (Let's Encrypt stopped in 2025); needs certs/chain.pem.",
    default: 'off',
  }),
};
