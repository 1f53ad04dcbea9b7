import { v } from '../spec.js';

/** Variables every part of the stack shares. */
export const coreVars = {
  COMPOSE_PROJECT_NAME: v.str({
    description: 'Compose project name: prefixes containers, networks and volumes on the host.',
    // Compose's own rule, capped at a DNS label (63): it prefixes container and network names that serve as host names.
    pattern: /^[a-z0-9][a-z0-9_-]{0,62}$/,
    patternHint: 'must be 1-63 lowercase letters, digits, - or _, starting with a letter or digit',
    default: { dev: 'healthmate-dev', prod: 'healthmate' },
  }),
  DOMAIN: v.domain({
    description: 'Public DNS name of the HealthMate API (TLS certificate, nginx server_name, probes).',
    default: { dev: 'localhost' },
    example: 'healthmate.example.com',
  }),
  STATE_DIR: v.hostPath({
    description:
      'Host folder for state that outlives a bundle: certificates, CA, ACME webroot, backups, textfile metrics, deploy lock and audit log (absolute in prod).',
    default: { dev: 'state/dev', prod: '/var/lib/healthmate' },
  }),
};
