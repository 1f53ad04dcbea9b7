import { v } from '../spec.js';

/** The application stack: images, database, cache and backend settings. */
export const stackVars = {
  BACKEND_IMAGE: v.str({
    description: 'Backend image repository, without the tag.',
    pattern: /^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$/,
    patternHint: 'must be an image repository like healthmate/backend',
    default: 'healthmate/backend',
  }),
  BACKEND_TAG: v.str({
    description: 'Backend image tag to deploy (a release version or git sha, never latest).',
    pattern: /^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
    patternHint: 'must be a version tag such as 1.4.2 (not latest)',
    default: { dev: 'dev' },
    example: '1.0.0',
  }),
  BACKEND_REPLICAS: v.int({
    description: 'Number of backend containers behind nginx.',
    min: 1,
    max: 32,
    default: { dev: '1', prod: '3' },
  }),
  POSTGRES_DB: v.str({
    description: 'Application database name.',
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    patternHint: 'must be a lowercase SQL identifier',
    default: 'healthmate',
  }),
  POSTGRES_USER: v.str({
    description: 'Application database role.',
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    patternHint: 'must be a lowercase SQL identifier',
    default: 'healthmate_user',
  }),
  POSTGRES_PASSWORD: v.secret({
    description: 'Password of the application database role.',
    default: { dev: 'dev-postgres-password' },
  }),
  REDIS_PASSWORD: v.secret({
    description: 'Password Redis requires from every client (requirepass).',
    default: { dev: 'dev-redis-password' },
  }),
  SECRET_KEY: v.secret({
    description: 'Backend signing key for sessions and tokens.',
    default: { dev: 'dev-secret-key-not-for-production' },
  }),
};
