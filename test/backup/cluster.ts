import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/net.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface Cluster {
  dir: string;
  dataDir: string;
  socketDir: string;
  port: number;
  user: string;
  password: string;
  /** psql as the superuser; throws on error. */
  sql(sql: string, database?: string): string;
  start(): void;
  stop(mode?: 'fast' | 'immediate'): void;
  /** Env for scripts: the cluster's own client tools first on PATH. */
  scriptEnv: NodeJS.ProcessEnv;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): string {
  const result = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, ...env }, input: input ?? '' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * A throwaway PostgreSQL 15 cluster: initdb in `dir`, own port on 127.0.0.1,
 * socket in `dir`, scram passwords for TCP. No system service is touched.
 */
export async function startCluster(dir: string, extraConf = '', serverEnv: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  mkdirSync(socketDir, { recursive: true });
  const port = await freePort();
  const user = 'healthmate_user';
  const password = 'Test-Pg-Password-4f9c2a';
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  // initdb refuses to run as root; the postgres system user owns the cluster files.
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) run('chown', ['-R', 'postgres:postgres', dir]);
  const wrap = (file: string, args: string[]): [string, string[]] => (asPostgres ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]);
  // The server's environment (e.g. PGBACKREST_CONFIG for archive_command), set explicitly: runuser may reset some of it.
  const withEnv = (file: string, args: string[]): [string, string[]] =>
    Object.keys(serverEnv).length === 0 ? wrap(file, args) : wrap('env', [...Object.entries(serverEnv).map(([k, v]) => `${k}=${v}`), file, ...args]);
  const [initdb, initArgs] = wrap(`${PG_BIN}/initdb`, [
    '-D',
    dataDir,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  run(initdb, initArgs);
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${socketDir}'\nfsync = off\nshared_buffers = 32MB\nmax_wal_senders = 4\nwal_level = replica\n${extraConf}\n`,
  );
  appendFileSync(join(dataDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 scram-sha-256\n');
  const cluster: Cluster = {
    dir,
    dataDir,
    socketDir,
    port,
    user,
    password,
    sql(sql, database = 'postgres') {
      return run(
        `${PG_BIN}/psql`,
        ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-U', user, '-d', database, '-f', '-'],
        {},
        sql,
      ).trim();
    },
    start() {
      const [file, args] = withEnv(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
      run(file, args);
    },
    stop(mode = 'fast') {
      const [file, args] = wrap(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-m', mode, '-w', 'stop']);
      spawnSync(file, args, { encoding: 'utf8' });
    },
    scriptEnv: { PATH: `${PG_BIN}:${process.env.PATH ?? ''}` },
  };
  cluster.start();
  return cluster;
}

/** --set flags pointing the scripts at the cluster, with state in `stateDir`. */
export function clusterFlags(cluster: Cluster, stateDir: string, database = 'healthmate'): string[] {
  return [
    '--env',
    'dev',
    '--set',
    `STATE_DIR=${stateDir}`,
    '--set',
    `BACKUP_DB_HOST=127.0.0.1`,
    '--set',
    `BACKUP_DB_PORT=${cluster.port}`,
    '--set',
    `POSTGRES_DB=${database}`,
    '--set',
    `POSTGRES_USER=${cluster.user}`,
    '--set',
    `POSTGRES_PASSWORD=${cluster.password}`,
  ];
}
