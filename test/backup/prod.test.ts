import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { type Cluster, startCluster } from './cluster.js';

/**
 * `--env prod`: production backups hold health data, so an unencrypted dump is
 * refused before anything is read or written, while the same run with age
 * recipients succeeds (so the refusal is about encryption, nothing else).
 */
let root: string;
let cluster: Cluster;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'healthmate-backup-prod-'));
  chmodSync(root, 0o755); // the cluster runs as the postgres user
  cluster = await startCluster(join(root, 'pg'));
  cluster.sql('CREATE DATABASE healthmate');
  cluster.sql('CREATE TABLE readings AS SELECT g AS id FROM generate_series(1, 1000) g;', 'healthmate');
});

afterAll(() => {
  cluster?.stop('immediate');
  if (root) rmSync(root, { recursive: true, force: true });
});

/** A production env file from init-env.ts (strong secrets), aimed at the test cluster. */
function prodRun(args: string[]): { code: number; stdout: string; stderr: string; stateDir: string } {
  const dir = tempDir();
  const init = runScript('init-env.ts', ['--env', 'prod', '--domain', 'api.healthmate-test.org'], { cwd: dir });
  expect(init.code, init.stderr).toBe(0);
  // The cluster takes the strong password init-env.ts wrote (prod refuses a weak one).
  const password = /^POSTGRES_PASSWORD=(.*)$/m.exec(readFileSync(join(dir, '.env.prod'), 'utf8'))?.[1] ?? '';
  cluster.sql(`ALTER ROLE "${cluster.user}" PASSWORD '${password.replaceAll("'", "''")}'`);
  const stateDir = join(dir, 'state');
  const flags = [
    '--env',
    'prod',
    '--env-file',
    join(dir, '.env.prod'),
    '--set',
    `STATE_DIR=${stateDir}`,
    '--set',
    'BACKUP_DB_HOST=127.0.0.1',
    '--set',
    `BACKUP_DB_PORT=${cluster.port}`,
    '--set',
    'POSTGRES_DB=healthmate',
    '--set',
    `POSTGRES_USER=${cluster.user}`,
    // No offsite copy here: prod's default remote is defined per host (offsite tests cover it).
    '--set',
    'BACKUP_OFFSITE_REMOTE=',
  ];
  const result = runScript('backup-db.ts', [...flags, ...args], { cwd: dir, env: cluster.scriptEnv });
  return { ...result, stateDir };
}

const written = (stateDir: string): string[] => (existsSync(stateDir) ? readdirSync(stateDir, { recursive: true }).map(String) : []);

describe('backup-db.ts --env prod', () => {
  it.each([
    ['a real run', []],
    ['a dry run', ['--dry-run']],
  ])('refuses an unencrypted dump in %s: exit 2, one sentence naming the variable, nothing written', (_name, extra) => {
    const result = prodRun(['--set', 'BACKUP_AGE_RECIPIENTS_FILE=', ...extra]);
    expect(result.code, result.stderr).toBe(2);
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual(['error: BACKUP_AGE_RECIPIENTS_FILE is empty: production backups hold health data and must be encrypted.']);
    expect(written(result.stateDir)).toEqual([]);
  });

  it('writes an encrypted dump with age recipients (the same run otherwise)', () => {
    needTool('age-keygen');
    const keys = tempDir();
    const identity = join(keys, 'identity.txt');
    spawnSync('age-keygen', ['-o', identity]);
    const recipients = join(keys, 'recipients.txt');
    writeFileSync(recipients, spawnSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).stdout);
    const result = prodRun(['--set', `BACKUP_AGE_RECIPIENTS_FILE=${recipients}`]);
    expect(result.code, result.stderr).toBe(0);
    const dumps = readdirSync(join(result.stateDir, 'backups')).filter((f) => f.endsWith('.dump.age'));
    expect(dumps).toHaveLength(1);
  });
});
