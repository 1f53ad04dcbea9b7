import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoPgHostLines } from '../../scripts/lib/backup/deriver.js';
import { applyPgbackrestCerts, planPgbackrestCerts } from '../../scripts/lib/certs/pgbackrest.js';
import { buildCaCertificate, buildServerCertificate, generateRsaKey } from '../../scripts/lib/certs/x509.js';
import { PGBACKREST_TLS_FILES } from '../../scripts/lib/pgbackrest/layout.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { BadInputError, OperationError } from '../../scripts/lib/errors.js';
import { statePaths } from '../../scripts/lib/paths.js';
import { type PgbackrestRunner, pgbackrestError, requireSameVersion } from '../../scripts/lib/pgbackrest/command.js';
import { buildContext } from '../../scripts/lib/render/context.js';
import { renderTemplate } from '../../scripts/lib/render/template.js';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { nodeWithTsx, REPO, runScript, SCRIPT_TIMEOUT_MS, type ScriptResult, scriptResult } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
import { type Cluster, PG_BIN, startCluster } from './cluster.js';

/**
 * A database host and a repository host on loopback, each running the real
 * `pgbackrest server` (2.45) with the configs this repo ships, rendered for
 * temp paths; mutual TLS with `localhost` certificates from our CA; a real
 * PostgreSQL 15 archiving through the shipped archive_command.
 */
const STANZA = 'healthmate';
let root: string;
let stateDir: string;
let cluster: Cluster;
let pgUid: number;
let pgGid: number;
const dirs: Record<string, string> = {};
const ports = { db: 0, repo: 0 };
const servers: Partial<Record<'db' | 'repo', ChildProcess>> = {};
const restored: { dir: string; stop: () => void }[] = [];

function sh(file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: SCRIPT_TIMEOUT_MS });
}

function asPostgres(file: string, args: string[], env: Record<string, string> = {}) {
  return sh('runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args]);
}

/** Env that points pgbackrest (and the scripts running it) at one side's rendered config. */
function sideEnv(side: 'db' | 'repo'): Record<string, string> {
  return { PGBACKREST_CONFIG: join(dirs[side] as string, 'pgbackrest.conf'), PGBACKREST_CONFIG_INCLUDE_PATH: dirs.include as string };
}

function scriptFlags(): string[] {
  return ['--env', 'dev', '--set', `STATE_DIR=${stateDir}`];
}

/**
 * A script on the database side runs as the postgres user, as pgBackRest does in
 * the postgres image (it refuses a key that the running user neither owns nor
 * gets from root with 0640), with its own state folder.
 */
function runDbScript(script: string, args: string[], env: Record<string, string> = {}): ScriptResult {
  const vars = Object.entries({ ...sideEnv('db'), ...env }).map(([k, v]) => `${k}=${v}`);
  const flags = ['--env', 'dev', '--set', `STATE_DIR=${dirs.dbState}`];
  const result = spawnSync('runuser', ['-u', 'postgres', '--', 'env', ...vars, ...nodeWithTsx(join(REPO, 'scripts', script), ...flags, ...args)], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  return scriptResult(`scripts/${script} as postgres`, result, SCRIPT_TIMEOUT_MS);
}

function startServer(side: 'db' | 'repo'): void {
  // The database side runs as postgres (it reads the data folder); the repository side as root here.
  // setpriv execs the server as postgres (runuser would stay its parent, and on SIGTERM waits 2 s before it exits).
  const env = ['env', ...Object.entries(sideEnv(side)).map(([k, v]) => `${k}=${v}`), 'pgbackrest', 'server'];
  const argv = side === 'db' ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--reset-env', ...env] : env;
  const out = openSync(join(root, `server-${side}.log`), 'a');
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  servers[side] = child;
}

async function stopServer(side: 'db' | 'repo'): Promise<void> {
  const child = servers[side];
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  await waitFor(`the ${side} pgbackrest server to exit`, () => child.exitCode !== null || child.signalCode !== null);
  delete servers[side];
}

async function serverUp(side: 'db' | 'repo'): Promise<void> {
  try {
    await waitFor(
      `the ${side} pgbackrest server to answer`,
      () => sh('pgbackrest', ['server-ping', 'localhost', `--tls-server-port=${ports[side]}`]).status === 0,
      WAIT_BUDGET_MS,
      200,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${readFileSync(join(root, `server-${side}.log`), 'utf8')}`);
  }
}

/** The shipped template rendered with test ports and host names, and temp paths where the containers have fixed ones. */
function renderSide(side: 'db' | 'repo', file: string): void {
  const env = loadEnv({
    env: 'dev',
    purpose: 'plan',
    processEnv: {},
    overrides: {
      STATE_DIR: stateDir,
      PGBACKREST_STANZA: STANZA,
      PGBACKREST_DB_HOST: 'localhost',
      PGBACKREST_REPO_HOST: 'localhost',
      PGBACKREST_DB_PORT: String(ports.db),
      PGBACKREST_REPO_PORT: String(ports.repo),
      POSTGRES_USER: cluster.user,
    },
  });
  const context = buildContext(env);
  const values = {
    ...context.values,
    PGBACKREST_TLS_PATH: join(stateDir, 'pgbackrest', 'tls', side),
    PGBACKREST_REPO_PATH: dirs.repoPath as string,
    PGBACKREST_SPOOL_PATH: join(dirs[side] as string, 'spool'),
    PGBACKREST_LOG_PATH: join(dirs[side] as string, 'log'),
    PGBACKREST_LOCK_PATH: join(dirs[side] as string, 'lock'),
    PGBACKREST_PG_PATH: cluster.dataDir,
    PGBACKREST_PG_SOCKET_PATH: cluster.socketDir,
    PGBACKREST_PG_PORT: String(cluster.port),
  };
  // The repository side's pg1 block with the same test paths (render derives it from the container paths).
  const withHosts = { ...values, PGBACKREST_REPO_PG_HOSTS: repoPgHostLines(['localhost'], values) };
  const text = renderTemplate(file, readFileSync(join(REPO, file), 'utf8'), withHosts, context.secretNames);
  expect(text.problems).toEqual([]);
  writeFileSync(join(dirs[side] as string, 'pgbackrest.conf'), text.text);
  // The include folder mirrors /run/secrets: the passphrase file beside a non-.conf secret pgBackRest must ignore.
  writeFileSync(join(dirs.include as string, 'pgbackrest_cipher.conf'), context.secretFiles.get('pgbackrest_cipher.conf') as string, { mode: 0o640 });
  writeFileSync(join(dirs.include as string, 'postgres_password'), 'not a pgbackrest setting\n', { mode: 0o640 });
}

/** archive_* and wal_level exactly as the shipped prod patroni.yml gives them to every member's PostgreSQL. */
function shippedArchiveSettings(): string {
  const env = loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan', processEnv: {}, overrides: { PGBACKREST_STANZA: STANZA } });
  const context = buildContext(env);
  const file = 'compose/patroni/prod/patroni.yml';
  const rendered = renderTemplate(file, readFileSync(join(REPO, file), 'utf8'), context.values, context.secretNames);
  type Parameters = Record<string, string | number>;
  const patroni = parseYaml(rendered.text) as { postgresql: { parameters: Parameters }; bootstrap: { dcs: { postgresql: { parameters: Parameters } } } };
  const settings = Object.entries({ ...patroni.postgresql.parameters, wal_level: patroni.bootstrap.dcs.postgresql.parameters.wal_level }).filter(([k]) =>
    /^(archive_|wal_level)/.test(k),
  );
  expect(Object.fromEntries(settings).archive_command).toBe(`pgbackrest --stanza=${STANZA} archive-push %p`);
  return settings.map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`).join('\n');
}

function sql(statement: string, database = 'healthmate'): string {
  return cluster.sql(statement, database);
}

/** Starts PostgreSQL on a restored folder (own port and socket, archiving off) and returns a psql for it. */
async function startRestored(dataDir: string): Promise<(statement: string) => string> {
  const port = await freePort();
  const socketDir = mkdtempSync(join(root, 'sock-'));
  chownSync(socketDir, pgUid, pgGid);
  const options = `-p ${port} -c unix_socket_directories=${socketDir} -c listen_addresses= -c archive_mode=off`;
  const logFile = join(socketDir, 'server.log');
  const start = asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-l', logFile, '-w', '-t', '120', '-o', options, 'start'], sideEnv('db'));
  restored.push({ dir: dataDir, stop: () => asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']) });
  expect(start.status, `${start.stderr}\n${readFileSync(logFile, 'utf8')}`).toBe(0);
  const psql = (statement: string) => {
    const r = asPostgres(`${PG_BIN}/psql`, [
      '-X',
      '-A',
      '-t',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      socketDir,
      '-p',
      String(port),
      '-U',
      cluster.user,
      '-d',
      'healthmate',
      '-c',
      statement,
    ]);
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  // Recovery ends with a promotion; until then the server is read-only.
  await waitFor('the restored server to promote', () => psql('SELECT pg_is_in_recovery()') === 'f', WAIT_BUDGET_MS, 250);
  return psql;
}

/** An empty folder the postgres user owns, as a new volume would be. */
function newRestoreDir(): string {
  const dir = join(root, `restore-${restored.length + 1}-${Date.now()}`);
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, pgUid, pgGid);
  return dir;
}

beforeAll(async () => {
  needTool('pgbackrest');
  root = mkdtempSync(join(tmpdir(), 'healthmate-pgbackrest-'));
  chmodSync(root, 0o755);
  pgUid = Number(sh('id', ['-u', 'postgres']).stdout.trim());
  pgGid = Number(sh('id', ['-g', 'postgres']).stdout.trim());
  stateDir = join(root, 'state');
  mkdirSync(stateDir, { mode: 0o755 });
  for (const name of ['db', 'repo', 'include', 'repoPath', 'dbState']) {
    dirs[name] = join(root, name);
    mkdirSync(dirs[name] as string, { recursive: true, mode: 0o750 });
  }
  // What the images create: spool, log and lock folders per side.
  for (const side of ['db', 'repo']) for (const sub of ['spool', 'log', 'lock']) mkdirSync(join(dirs[side] as string, sub));
  ports.db = await freePort();
  ports.repo = await freePort();

  // Our CA, then the two peer certificates generate-certs.ts --profile pgbackrest issues.
  const paths = statePaths(loadEnv({ env: 'dev', purpose: 'plan', processEnv: {}, overrides: { STATE_DIR: stateDir } }));
  const caKeys = await generateRsaKey(2048);
  mkdirSync(paths.ca, { recursive: true, mode: 0o700 });
  writeFileSync(join(paths.ca, 'ca.key'), caKeys.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(paths.ca, 'ca.pem'), buildCaCertificate(caKeys, 'HealthMate test CA', 365));
  const request = { paths, hosts: { db: 'localhost', repo: 'localhost' }, extraSans: [], bits: 2048, days: 90, force: false };
  await applyPgbackrestCerts(planPgbackrestCerts(request));
  expect(planPgbackrestCerts(request).hosts.map((h) => `${h.action}: ${h.reason}`)).toEqual([expect.stringMatching(/^keep/), expect.stringMatching(/^keep/)]);
  // Several db hosts: the one database certificate also names each host's server (<host>.<name>); the repository's stays.
  expect(planPgbackrestCerts({ ...request, dbNames: ['main.localhost', 'db2.localhost'] }).hosts.map((h) => `${h.role} ${h.action}: ${h.reason}`)).toEqual([
    'db issue: SANs change to DNS:db2.localhost, DNS:localhost, DNS:main.localhost',
    expect.stringMatching(/^repo keep/),
  ]);

  cluster = await startCluster(join(root, 'pg'), '', {});
  // Ownership as on the hosts: the database side is the postgres user.
  for (const path of [dirs.db, dirs.dbState, join(stateDir, 'pgbackrest', 'tls', 'db')]) chownSync(path as string, pgUid, pgGid);
  // The repository side runs as root here, and pgBackRest wants a key its running user owns with 0600.
  chmodSync(join(stateDir, 'pgbackrest', 'tls', 'repo', PGBACKREST_TLS_FILES.key), 0o600);
  // As generate-certs.ts leaves it, with this host's postgres group instead of the containers' 999.
  chownSync(join(stateDir, 'pgbackrest', 'tls', 'db', PGBACKREST_TLS_FILES.key), 0, pgGid);
  chownSync(dirs.include as string, 0, pgGid);
  renderSide('db', 'compose/postgres/pgbackrest/pgbackrest.conf');
  renderSide('repo', 'compose/repo-host/pgbackrest/pgbackrest.conf');
  sh('chown', ['-R', `postgres:postgres`, dirs.db as string]);
  for (const f of readdirSync(dirs.include as string)) chownSync(join(dirs.include as string, f), 0, pgGid);
  chmodSync(join(stateDir, 'pgbackrest'), 0o755);

  // Restart PostgreSQL with the shipped archive settings and the db side's pgBackRest config in its environment.
  cluster.stop('fast');
  writeFileSync(join(cluster.dataDir, 'postgresql.auto.conf'), `${shippedArchiveSettings()}\n`);
  sh('chown', ['postgres:postgres', join(cluster.dataDir, 'postgresql.auto.conf')]);
  const restart = asPostgres(`${PG_BIN}/pg_ctl`, ['-D', cluster.dataDir, '-l', join(cluster.dir, 'server.log'), '-w', '-t', '60', 'start'], sideEnv('db'));
  expect(restart.status, restart.stderr).toBe(0);
  sql('CREATE DATABASE healthmate', 'postgres');
  sql('CREATE TABLE markers (id int PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())');

  startServer('db');
  startServer('repo');
  await serverUp('db');
  await serverUp('repo');
});

afterAll(async () => {
  for (const r of restored) r.stop();
  cluster?.stop('immediate');
  await stopServer('db');
  await stopServer('repo');
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('pgBackRest with a repository host over mutual TLS', () => {
  let noted = '';

  it('archives through the shipped archive_command, takes a full backup with backup-db.ts --base, and encrypts everything in the repository', async () => {
    expect(sql('SHOW archive_command')).toBe(`pgbackrest --stanza=${STANZA} archive-push %p`);
    const full = runScript('backup-db.ts', [...scriptFlags(), '--base', '--local', '--type', 'full'], { env: sideEnv('repo') });
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/pgBackRest full backup \d{8}-\d{6}F of stanza healthmate/);

    // check from the database side: a WAL switch reaches the repository over TLS.
    const check = asPostgres('pgbackrest', [`--stanza=${STANZA}`, 'check'], sideEnv('db'));
    expect(check.status, check.stderr + check.stdout).toBe(0);
    expect(readdirSync(join(dirs.db as string, 'log'))).toContain(`${STANZA}-archive-push-async.log`);

    // Metrics from the database side, through the repository host's tls-server-auth (stanza-scoped).
    const metrics = runDbScript('verify-pitr.ts', ['--metrics-only', '--local']);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toMatch(new RegExp(`metrics for ${STANZA} \\(ok, 1 backups\\)`));

    // No plaintext on the repository host: every data file carries OpenSSL's "Salted__" header, none zstd's magic.
    const files = sh('find', [dirs.repoPath as string, '-type', 'f', '(', '-name', '*.zst', '-o', '-name', '*.info', ')'])
      .stdout.split('\n')
      .filter(Boolean);
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const fd = openSync(file, 'r');
      const head = Buffer.alloc(8);
      readSync(fd, head, 0, 8, 0);
      closeSync(fd);
      expect(head.toString('latin1'), file).toBe('Salted__');
    }
  });

  it('recovers to a noted time with restore-pitr.ts: markers before it present, after it absent', async () => {
    for (const id of [1, 2, 3]) sql(`INSERT INTO markers (id, note) VALUES (${id}, 'before')`);
    noted = sql(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
    sql('SELECT pg_sleep(1.2)');
    for (const id of [4, 5, 6]) sql(`INSERT INTO markers (id, note) VALUES (${id}, 'after')`);
    const diff = runScript('backup-db.ts', [...scriptFlags(), '--base', '--local', '--type', 'diff'], { env: sideEnv('repo') });
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toMatch(/pgBackRest diff backup \S+D of stanza healthmate .* 2 backups in the repository/);

    const dir = newRestoreDir();
    const plan = runDbScript('restore-pitr.ts', ['--local', '--target-dir', dir, '--to', noted, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`--type=time '--target=${noted.replace('T', ' ').replace('Z', '+00')}' --target-action=promote`);
    const restore = runDbScript('restore-pitr.ts', ['--local', '--target-dir', dir, '--to', noted]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(statSync(join(dir, 'PG_VERSION')).uid).toBe(pgUid);
    const psql = await startRestored(dir);
    expect(psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM markers")).toBe('1,2,3');
  });

  it('restores --latest with every archived marker', async () => {
    sql(`INSERT INTO markers (id, note) VALUES (7, 'latest')`);
    const segment = sql('SELECT pg_walfile_name(pg_switch_wal())');
    await waitFor('the segment holding marker 7 to be archived', () => sql('SELECT last_archived_wal FROM pg_stat_archiver') >= segment, WAIT_BUDGET_MS, 250);
    const dir = newRestoreDir();
    const restore = runDbScript('restore-pitr.ts', ['--local', '--target-dir', dir, '--latest']);
    expect(restore.code, restore.stderr).toBe(0);
    const psql = await startRestored(dir);
    expect(psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM markers")).toBe('1,2,3,4,5,6,7');
  });

  it('refuses a client certificate with the wrong CN or from another CA', async () => {
    const intruder = join(root, 'intruder');
    mkdirSync(intruder);
    const caPem = readFileSync(join(stateDir, 'ca', 'ca.pem'), 'utf8');
    const caKey = readFileSync(join(stateDir, 'ca', 'ca.key'), 'utf8');
    const otherCaKeys = await generateRsaKey(2048);
    const otherCa = buildCaCertificate(otherCaKeys, 'Some other CA', 30);
    const cases = [
      { name: 'wrong-cn', ca: { certPem: caPem, privateKeyPem: caKey }, cn: 'intruder' },
      { name: 'other-ca', ca: { certPem: otherCa, privateKeyPem: otherCaKeys.privateKeyPem }, cn: 'localhost' },
    ];
    for (const c of cases) {
      const keys = await generateRsaKey(2048);
      const cert = buildServerCertificate({ keys, commonName: c.cn, sans: [{ type: 'DNS', value: 'localhost' }], days: 1, ca: c.ca, profile: 'peer' });
      writeFileSync(join(intruder, `${c.name}.pem`), cert);
      writeFileSync(join(intruder, `${c.name}.key`), keys.privateKeyPem, { mode: 0o600 });
      // repo-ls fails when refused (info would report the refusal in its status and exit 0).
      const args = [`--repo1-host-cert-file=${join(intruder, `${c.name}.pem`)}`, `--repo1-host-key-file=${join(intruder, `${c.name}.key`)}`, 'repo-ls'];
      const result = sh('pgbackrest', args, sideEnv('db'));
      expect(result.status, c.name).not.toBe(0);
      const error = pgbackrestError(
        { code: result.status, signal: null, stdout: result.stdout, stderr: result.stderr },
        { file: 'pgbackrest', args },
        { side: 'db', where: 'test', command: () => ({ file: 'pgbackrest', args }) },
      );
      expect(error, `${c.name}: ${error.message}`).toBeInstanceOf(BadInputError);
    }
  });

  it('names a missing certificate, a wrong passphrase and a version mismatch in one sentence each (exit 2)', async () => {
    const missing = runDbScript('verify-pitr.ts', ['--metrics-only', '--local'], { PGBACKREST_REPO1_HOST_CERT_FILE: join(root, 'nowhere', 'cert.pem') });
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/TLS (file|certificate).*nowhere\/cert\.pem|nowhere\/cert\.pem/);

    const wrongPass = join(root, 'wrong-pass');
    mkdirSync(wrongPass);
    writeFileSync(join(wrongPass, 'pgbackrest_cipher.conf'), '[global]\nrepo1-cipher-pass=not-the-passphrase\n');
    const wrong = runScript('verify-pitr.ts', [...scriptFlags(), '--metrics-only', '--local'], {
      env: { ...sideEnv('repo'), PGBACKREST_CONFIG_INCLUDE_PATH: wrongPass },
    });
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toMatch(/passphrase is missing or wrong/);
    expect(`${wrong.stderr}${wrong.stdout}`).not.toContain('not-the-passphrase');

    // Only one pgBackRest version can be installed here, so the other host's `version` answer is a stand-in.
    const real: PgbackrestRunner = { side: 'db', where: 'this host', command: (args) => ({ file: 'pgbackrest', args }) };
    const older: PgbackrestRunner = { side: 'repo', where: 'the repository host', command: () => ({ file: 'echo', args: ['pgBackRest 2.44'] }) };
    await expect(requireSameVersion(real, older)).rejects.toThrow(/pgBackRest 2\.45 on this host but 2\.44 on the repository host/);
    await expect(requireSameVersion(real, older)).rejects.toBeInstanceOf(BadInputError);
  });

  it('with the repository host down, WAL waits in pg_wal (archive-push keeps retrying) and archiving catches up when it is back', async () => {
    await stopServer('repo');
    // pgBackRest retries a refused connection until io-timeout (60 s, also how long archive-push then takes to fail).
    // PostgreSQL's archive_command reads the include folder on every push: a short io-timeout there, while the host is down.
    const shortTimeout = join(dirs.include as string, 'io-timeout.conf');
    writeFileSync(shortTimeout, '[global]\nio-timeout=1\n', { mode: 0o640 });
    chownSync(shortTimeout, 0, pgGid);
    const failures = Number(sql('SELECT failed_count FROM pg_stat_archiver'));
    sql(`INSERT INTO markers (id, note) VALUES (8, 'while the repository host was down')`);
    const segment = sql('SELECT pg_walfile_name(pg_switch_wal())');
    // PostgreSQL keeps the segment (and retries) until archive-push succeeds.
    await waitFor('archive-push to fail', () => Number(sql('SELECT failed_count FROM pg_stat_archiver')) > failures, WAIT_BUDGET_MS, 250);
    expect(sql('SELECT last_archived_wal FROM pg_stat_archiver') < segment).toBe(true);
    expect(readdirSync(join(cluster.dataDir, 'pg_wal', 'archive_status'))).toContain(`${segment}.ready`);

    const unreachable = runDbScript('verify-pitr.ts', ['--metrics-only', '--local']);
    expect(unreachable.code, unreachable.stderr).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the other pgBackRest host/);

    rmSync(shortTimeout);
    startServer('repo');
    await serverUp('repo');
    let poked = Date.now();
    await waitFor(
      'archiving to catch up',
      () => {
        // After three failures PostgreSQL's archiver sleeps a minute; a new segment wakes it.
        if (Date.now() - poked > 10_000) {
          sql('SELECT pg_switch_wal() FROM (SELECT txid_current()) AS t');
          poked = Date.now();
        }
        return sql('SELECT last_archived_wal FROM pg_stat_archiver') >= segment;
      },
      WAIT_BUDGET_MS,
      500,
    );
    expect(sql(`SELECT count(*) FROM markers WHERE id = 8`)).toBe('1');
  });

  it('verify-pitr.ts writes metrics promtool accepts, and finds a tampered repository file', async () => {
    const metricsFile = join(stateDir, 'textfile', 'healthmate_pgbackrest.prom');
    const ok = runScript('verify-pitr.ts', [...scriptFlags(), '--local'], { env: sideEnv('repo') });
    expect(ok.code, ok.stderr).toBe(0);
    let metrics = readFileSync(metricsFile, 'utf8');
    expect(metrics).toMatch(/^healthmate_pgbackrest_backups\{stanza="healthmate"\} 2$/m);
    expect(metrics).toMatch(/^healthmate_pgbackrest_status_ok\{stanza="healthmate"\} 1$/m);
    expect(metrics).toMatch(/^healthmate_pgbackrest_last_backup_timestamp_seconds\{stanza="healthmate",type="full"\} \d{10}$/m);
    expect(metrics).toMatch(/^healthmate_pgbackrest_verify_last_status 1$/m);
    const promtool = spawnSync(needTool('promtool'), ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);

    // Flip bytes in the middle of one file of the full backup.
    const full = sh('find', [join(dirs.repoPath as string, 'backup', STANZA), '-path', '*F/pg_data/*', '-name', '*.zst', '-size', '+8k'])
      .stdout.split('\n')
      .filter(Boolean);
    const victim = full[0] as string;
    const undo = damage(victim, 4096);
    const bad = runScript('verify-pitr.ts', [...scriptFlags(), '--local'], { env: sideEnv('repo') });
    undo();
    expect(bad.code, bad.stdout).toBe(1);
    expect(bad.stderr).toMatch(/damaged repository .*invalid checksum .*F\/pg_data\//);
    metrics = readFileSync(metricsFile, 'utf8');
    expect(metrics).toMatch(/^healthmate_pgbackrest_verify_last_status 0$/m);
  });

  it('verify-pitr.ts names a damaged WAL segment of the archive', async () => {
    const segments = sh('find', [join(dirs.repoPath as string, 'archive', STANZA), '-name', '0000000*.zst', '-size', '+1k'])
      .stdout.split('\n')
      .filter(Boolean)
      .sort();
    const victim = segments[0] as string;
    const segment = (/(0{7}[0-9A-F]{17})-[0-9a-f]{40}\.zst$/.exec(victim) as RegExpExecArray)[1] as string;
    // Its last bytes: the cipher's final block no longer decrypts, and pgBackRest reports `invalid result <file>: ...`.
    const undo = damage(victim, statSync(victim).size - 8);
    // pgBackRest retries a failed verify job twice, the second time after job-retry-interval (15 s): retried at once here.
    const bad = runScript('verify-pitr.ts', [...scriptFlags(), '--local'], { env: { ...sideEnv('repo'), PGBACKREST_JOB_RETRY_INTERVAL: '0' } });
    undo();
    expect(bad.code, bad.stdout + bad.stderr).toBe(1);
    expect(bad.stderr, bad.stderr).toMatch(
      new RegExp(`^error: pgbackrest verify found a damaged repository \\(.*\\): invalid result \\S*${segment}-[0-9a-f]{40}\\.zst \\(unable to flush\\)`, 'm'),
    );
    // Repaired, the repository verifies again.
    const ok = runScript('verify-pitr.ts', [...scriptFlags(), '--local'], { env: sideEnv('repo') });
    expect(ok.code, ok.stderr).toBe(0);
  });
});

/** Overwrites 8 bytes of a file at `offset`; returns what puts them back. */
function damage(file: string, offset: number): () => void {
  const original = Buffer.alloc(8);
  const fd = openSync(file, 'r+');
  readSync(fd, original, 0, 8, offset);
  writeSync(fd, Buffer.from('tampered'), 0, 8, offset);
  closeSync(fd);
  return () => {
    const again = openSync(file, 'r+');
    writeSync(again, original, 0, 8, offset);
    closeSync(again);
  };
}

describe('error classification', () => {
  it('turns an unreachable host into an operation failure', () => {
    const error = pgbackrestError(
      { code: 49, signal: null, stdout: '', stderr: "ERROR: [049]: unable to get address for 'nowhere.invalid': [-2] Name or service not known" },
      { file: 'pgbackrest', args: [] },
      { side: 'db', where: 'test', command: () => ({ file: 'pgbackrest', args: [] }) },
    );
    expect(error).toBeInstanceOf(OperationError);
  });

  it('names a running PostgreSQL instead of blaming the configuration', () => {
    const error = pgbackrestError(
      { code: 38, signal: null, stdout: 'P00  ERROR: [038]: unable to restore while PostgreSQL is running', stderr: '' },
      { file: 'pgbackrest', args: ['restore'] },
      { side: 'db', where: 'test', command: () => ({ file: 'pgbackrest', args: [] }) },
    );
    expect(error).toBeInstanceOf(BadInputError);
    expect(error.message).toBe('PostgreSQL is running on the data folder this restore targets (test).');
  });

  it('carries the cause behind "unable to find primary cluster" (the WARN lines before it)', () => {
    const stdout = [
      'P00   WARN: unable to check pg1: [025]: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL:  role "x" does not exist',
      'P00  ERROR: [056]: unable to find primary cluster - cannot proceed',
    ].join('\n');
    const error = pgbackrestError(
      { code: 56, signal: null, stdout, stderr: '' },
      { file: 'pgbackrest', args: ['backup'] },
      { side: 'repo', where: 'test', command: () => ({ file: 'pgbackrest', args: [] }) },
    );
    expect(error).toBeInstanceOf(OperationError);
    expect(error.message).toMatch(/unable to find primary cluster - cannot proceed \(pg1: \[025\]: connection to server .* role "x" does not exist\)$/);
  });
});
