import { v } from '../spec.js';

/** Variables every part of the stack shares. */
export const coreVars = {
  COMPOSE_PROJECT_NAME: v.str({
    description: 'Compose project name: prefixes containers, networks and volumes on the host.',
    pattern: /^[a-z0-9][a-z0-9_-]*$/,
    patternHint: 'must be lowercase letters, digits, - or _',
    default: { dev: 'healthmate-dev', prod: 'healthmate' },
  }),
  DOMAIN: v.domain({
    description: 'Public DNS name of the HealthMate API (TLS certificate, nginx server_name, probes).',
    default: { dev: 'localhost' },
    example: 'healthmate.example.com',
  }),
  STATE_DIR: v.str({
    description: 'Host folder for state that outlives a bundle: certificates, CA, ACME webroot, backups, textfile metrics, deploy lock and audit log.',
    pattern: /^[^\s@]+$/,
    patternHint: 'must be a path without spaces',
    default: { dev: 'state/dev', prod: '/var/lib/healthmate' },
  }),
};
