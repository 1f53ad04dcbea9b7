import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { SECRETS_DIR } from '../render/bundle.js';
import { secretFileName } from '../render/context.js';
import { K8S_READ_URL_FILE } from './deriver.js';

/** The one Secret the manifests read; deploy-k8s.ts creates it, no manifest does. */
export const SECRET_NAME = 'healthmate-secrets';

/**
 * Secret key → file under dist/<env>/secrets/ it is loaded from. The
 * plain secrets are the env's secret files; the connection URLs and
 * redis_auth.conf come from the stack deriver (their
 * hosts, `postgres` and `redis`, are also the Service names in k8s/).
 */
export const SECRET_KEYS = {
  'database-url': 'database_url',
  'database-read-url': K8S_READ_URL_FILE,
  'redis-url': 'redis_url',
  'redis-password': secretFileName('REDIS_PASSWORD'),
  'redis-auth.conf': 'redis_auth.conf',
  'secret-key': secretFileName('SECRET_KEY'),
  'postgres-password': secretFileName('POSTGRES_PASSWORD'),
  'postgres-replication-password': secretFileName('POSTGRES_REPLICATION_PASSWORD'),
} as const;

/** `--from-file` arguments (key=path): paths only, so no value reaches a command line. */
export function secretFileArgs(bundleDir: string): string[] {
  return Object.entries(SECRET_KEYS).map(([key, file]) => `--from-file=${key}=${join(bundleDir, SECRETS_DIR, file)}`);
}

/** Refuses, before any kubectl call, a bundle lacking a secret file the Secret needs. */
export function assertSecretFiles(bundleDir: string): void {
  for (const [key, file] of Object.entries(SECRET_KEYS)) {
    const path = join(bundleDir, SECRETS_DIR, file);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new BadInputError(`secret file ${path} (Secret key ${key}) is missing; set its variable in the env file and render again.`);
    }
    if (size === 0) throw new BadInputError(`secret file ${path} (Secret key ${key}) is empty; set its variable in the env file and render again.`);
  }
}
