/**
 * The PostgreSQL scripts of k8s/database-replicas.yaml, run with the real
 * PostgreSQL 15 binaries outside Kubernetes: the primary's initdb hook creates
 * the replication role, the replica's init container clones the primary with
 * pg_basebackup, and the clone then streams WAL as a hot standby. Only the
 * mounted secret path is rewritten to a temp file; PRIMARY_HOST/PORT point at
 * the test primary instead of postgres-primary-0.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { find, renderedObjects } from './support.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const SECRET_PATH = '/etc/healthmate-secrets/postgres-replication-password';
// Characters that need escaping in SQL literals and in .pgpass.
const REPLICATION_PASSWORD = "r3pl:ic\\a'tion-Pw-7Qz";
const asRoot = process.getuid?.() === 0;

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string } {
  // initdb and postgres refuse to run as root: use the postgres system user.
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args]] : [file, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env }, input: '' });
  return { code: result.status ?? 1, out: `${result.stdout}${result.stderr}` };
}

function must(file: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = run(file, args, env);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed:\n${result.out}`);
  return result.out;
}

const running: string[] = [];
afterEach(() => {
  while (running.length > 0) run(`${PG_BIN}/pg_ctl`, ['-D', running.pop() as string, '-m', 'immediate', '-w', 'stop']);
});

function start(dataDir: string, log: string): void {
  must(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-l', log, '-w', '-t', '60', 'start']);
  running.push(dataDir);
}

function sql(socketDir: string, port: number, query: string): string {
  return must(`${PG_BIN}/psql`, ['-X', '-A', '-t', '-h', socketDir, '-p', String(port), '-U', 'healthmate_user', '-d', 'postgres', '-c', query]).trim();
}

describe('PostgreSQL read replicas (scripts from the ConfigMap, real PostgreSQL 15)', () => {
  it('the primary hook creates the replication role and a replica bootstraps with pg_basebackup and streams', async () => {
    needTool('runuser');
    const dir = tempDir();
    const scripts = find(renderedObjects(dir, 'prod'), 'ConfigMap', 'postgres-scripts').object.data as Record<string, string>;
    const secretFile = join(dir, 'replication-password');
    writeFileSync(secretFile, REPLICATION_PASSWORD, { mode: 0o600 });
    const script = (name: string) => {
      const text = scripts[name] as string;
      expect(text).toContain(SECRET_PATH);
      const path = join(dir, name);
      writeFileSync(path, text.replaceAll(SECRET_PATH, secretFile));
      return path;
    };
    const roleScript = script('10-replication-role.sh');
    const bootstrapScript = script('replica-bootstrap.sh');
    const socketDir = join(dir, 'sock');
    mkdirSync(socketDir);
    const primaryData = join(dir, 'primary');
    const replicaRoot = join(dir, 'replica');
    mkdirSync(replicaRoot);
    if (asRoot) spawnSync('chown', ['-R', 'postgres:postgres', dir]);
    const [primaryPort, replicaPort] = [await freePort(), await freePort()];

    must(`${PG_BIN}/initdb`, ['-D', primaryData, '-U', 'healthmate_user', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']);
    // initdb allows replication from localhost by default; in a pod the replica
    // connects from another address, so only the hook's rule may let it in.
    const hba = join(primaryData, 'pg_hba.conf');
    writeFileSync(
      hba,
      readFileSync(hba, 'utf8')
        .split('\n')
        .filter((line) => !/^\s*host\s+replication/.test(line))
        .join('\n'),
    );
    appendFileSync(
      join(primaryData, 'postgresql.conf'),
      `port = ${primaryPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${socketDir}'\nfsync = off\nwal_level = replica\nwal_keep_size = 64MB\n`,
    );
    start(primaryData, join(dir, 'primary.log'));
    const env = { PGHOST: socketDir, PGPORT: String(primaryPort), POSTGRES_USER: 'healthmate_user', POSTGRES_DB: 'postgres', PGDATA: primaryData };
    must('sh', [roleScript], env);
    must(`${PG_BIN}/pg_ctl`, ['-D', primaryData, 'reload']);
    expect(sql(socketDir, primaryPort, "SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'")).toBe('t');
    sql(socketDir, primaryPort, "CREATE TABLE marker (note text); INSERT INTO marker VALUES ('before clone');");

    const replicaData = join(replicaRoot, 'pgdata');
    const passfile = join(replicaRoot, 'pgpass');
    const bootstrapEnv = {
      PRIMARY_HOST: '127.0.0.1',
      PRIMARY_PORT: String(primaryPort),
      PGDATA: replicaData,
      PGPASSFILE: passfile,
      POD_NAME: 'postgres-replica-0',
    };
    // A wrong password is refused: the rule demands scram, nothing is trusted.
    writeFileSync(secretFile, 'not-the-password');
    const refused = run('sh', [bootstrapScript], bootstrapEnv);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/password authentication failed for user "replicator"/);
    writeFileSync(secretFile, REPLICATION_PASSWORD);

    expect(must('sh', [bootstrapScript], bootstrapEnv)).toContain('replica cloned from 127.0.0.1');
    expect(statSync(passfile).mode & 0o777).toBe(0o600);
    const autoConf = readFileSync(join(replicaData, 'postgresql.auto.conf'), 'utf8');
    expect(autoConf).toContain(`passfile=${passfile}`);
    expect(autoConf).not.toContain(REPLICATION_PASSWORD);
    appendFileSync(join(replicaData, 'postgresql.conf'), `port = ${replicaPort}\nhot_standby = on\n`);
    start(replicaData, join(dir, 'replica.log'));

    expect(sql(socketDir, replicaPort, 'SELECT pg_is_in_recovery()')).toBe('t');
    sql(socketDir, primaryPort, "INSERT INTO marker VALUES ('after clone');");
    await waitFor('the replica to replay the new row', () => sql(socketDir, replicaPort, 'SELECT count(*) FROM marker') === '2', 30_000, 200);
    expect(sql(socketDir, primaryPort, 'SELECT application_name, state FROM pg_stat_replication')).toBe('postgres-replica-0|streaming');
    // Read-only, as a read replica must be.
    expect(
      run(`${PG_BIN}/psql`, [
        '-X',
        '-h',
        socketDir,
        '-p',
        String(replicaPort),
        '-U',
        'healthmate_user',
        '-d',
        'postgres',
        '-c',
        "INSERT INTO marker VALUES ('x')",
      ]).out,
    ).toMatch(/read-only transaction/);

    // A restarted pod keeps its data: the init container does not clone again.
    expect(must('sh', [bootstrapScript], bootstrapEnv)).toContain('replica data present');
  });
});
