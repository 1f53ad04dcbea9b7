import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { SECRETS_DIR } from '../render/bundle.js';
import { secretFileName } from '../render/context.js';
import { K8S_READ_URL_FILE, K8S_WRITE_URL_FILE } from './deriver.js';

/** The Secret the HealthMate pods and the backup ObjectStore read; deploy-k8s.ts creates it, no manifest does. */
export const SECRET_NAME = 'healthmate-secrets';
/** The Secret CloudNativePG's initdb reads the application owner's password from (basic-auth: username + password). */
export const DB_APP_SECRET_NAME = 'postgres-app-credentials';

/**
 * Secret key → file under dist/<env>/secrets/ it is loaded from. The
 * plain secrets are the env's secret files; the connection URLs come from
 * the k8s deriver (hosts postgres-rw and postgres-ro, the CloudNativePG
 * Services) and redis_auth.conf from the stack deriver.
 */
export const SECRET_KEYS = {
  'database-url': K8S_WRITE_URL_FILE,
  'database-read-url': K8S_READ_URL_FILE,
  'redis-url': 'redis_url',
  'redis-password': secretFileName('REDIS_PASSWORD'),
  'redis-auth.conf': 'redis_auth.conf',
  'secret-key': secretFileName('SECRET_KEY'),
  'backup-s3-access-key-id': secretFileName('K8S_BACKUP_S3_ACCESS_KEY_ID'),
  'backup-s3-secret-access-key': secretFileName('K8S_BACKUP_S3_SECRET_ACCESS_KEY'),
} as const;

/** Keys of the CloudNativePG application Secret that come from files. */
export const DB_APP_SECRET_FILES = { password: secretFileName('POSTGRES_PASSWORD') } as const;

/** Every (Secret, key) a manifest may reference. */
export function providedSecretKeys(): Map<string, string[]> {
  return new Map([
    [SECRET_NAME, Object.keys(SECRET_KEYS)],
    [DB_APP_SECRET_NAME, ['username', ...Object.keys(DB_APP_SECRET_FILES)]],
  ]);
}

function fromFiles(bundleDir: string, keys: Record<string, string>): string[] {
  return Object.entries(keys).map(([key, file]) => `--from-file=${key}=${join(bundleDir, SECRETS_DIR, file)}`);
}

/** `--from-file` arguments (key=path) of healthmate-secrets: paths only, so no value reaches a command line. */
export function secretFileArgs(bundleDir: string): string[] {
  return fromFiles(bundleDir, SECRET_KEYS);
}

/** Arguments of the CloudNativePG app Secret: the user name is not secret, the password travels as a file. */
export function dbAppSecretArgs(bundleDir: string, user: string): string[] {
  return ['--type=kubernetes.io/basic-auth', `--from-literal=username=${user}`, ...fromFiles(bundleDir, DB_APP_SECRET_FILES)];
}

/** Refuses, before any kubectl call, a bundle lacking a secret file the Secrets need. */
export function assertSecretFiles(bundleDir: string): void {
  const needed: [string, string][] = [
    ...Object.entries(SECRET_KEYS).map(([key, file]): [string, string] => [`${SECRET_NAME} key ${key}`, file]),
    ...Object.entries(DB_APP_SECRET_FILES).map(([key, file]): [string, string] => [`${DB_APP_SECRET_NAME} key ${key}`, file]),
  ];
  for (const [what, file] of needed) {
    const path = join(bundleDir, SECRETS_DIR, file);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new BadInputError(`secret file ${path} (Secret ${what}) is missing; set its variable in the env file and render again.`);
    }
    if (size === 0) throw new BadInputError(`secret file ${path} (Secret ${what}) is empty; set its variable in the env file and render again.`);
  }
}
