import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { buildContext } from '../../scripts/lib/render/context.js';
import { renderTemplate } from '../../scripts/lib/render/template.js';
import { freePort, waitFor } from '../helpers/net.js';
import { REPO, runScript } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
import { type Cluster, clusterFlags, PG_BIN, startCluster } from './cluster.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

let root: string;
let cluster: Cluster;
let walDir: string;
let flags: string[];

/** The repo's WAL archiving settings, rendered for this test's archive folder. */
function renderedArchiveConf(stateDir: string): string {
  const env = loadEnv({ env: 'dev', overrides: { STATE_DIR: stateDir, POSTGRES_WAL_ARCHIVE_DIR: walDir }, purpose: 'plan', processEnv: {} });
  const context = buildContext(env);
  const file = 'backups/postgresql/wal-archiving.conf';
  const result = renderTemplate(file, readFileSync(join(REPO, file), 'utf8'), context.values, context.secretNames);
  expect(result.problems).toEqual([]);
  const path = join(root, 'wal-archiving.conf');
  writeFileSync(path, result.text);
  return path;
}

beforeAll(async () => {
  needTool('age-keygen');
  root = mkdtempSync(join(tmpdir(), 'healthmate-pitr-'));
  chmodSync(root, 0o755); // the cluster runs as the postgres user
  const stateDir = join(root, 'state');
  // The server archives into <backups>/wal as the postgres user (compose mounts just that folder).
  mkdirSync(join(stateDir, 'backups'), { recursive: true, mode: 0o711 });
  chmodSync(join(stateDir, 'backups'), 0o711);
  walDir = join(stateDir, 'backups', 'wal');
  mkdirSync(walDir, { mode: 0o700 });
  const pgUid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(walDir, pgUid, pgUid);
  const conf = renderedArchiveConf(stateDir);
  cluster = await startCluster(join(root, 'pg'), `include '${conf}'`);
  flags = clusterFlags(cluster, stateDir);
});

afterAll(() => {
  cluster?.stop('immediate');
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('point-in-time recovery', () => {
  it('recovers to a noted time: exactly the markers inserted before it exist', async () => {
    expect(cluster.sql('SHOW archive_mode')).toBe('on');
    cluster.sql('CREATE DATABASE healthmate');
    cluster.sql('CREATE TABLE markers (id int PRIMARY KEY, note text)', 'healthmate');
    const identity = join(root, 'identity.txt');
    spawnSync('age-keygen', ['-o', identity]);
    const recipients = join(root, 'recipients.txt');
    writeFileSync(recipients, spawnSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).stdout);

    const base = runScript('backup-db.ts', [...flags, '--base', '--set', `BACKUP_AGE_RECIPIENTS_FILE=${recipients}`], { env: cluster.scriptEnv });
    expect(base.code, base.stderr).toBe(0);
    const baseDir = join(root, 'state', 'backups', 'base');
    expect(
      readdirSync(baseDir)
        .filter((n) => !n.startsWith('.'))
        .sort(),
    ).toEqual([expect.stringMatching(/^base-\d{8}T\d{6}Z\.tar\.gz\.age$/), expect.stringMatching(/\.json$/)]);

    for (const id of [1, 2, 3]) cluster.sql(`INSERT INTO markers VALUES (${id}, 'before')`, 'healthmate');
    const noted = cluster.sql('SELECT to_char(clock_timestamp() AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')');
    cluster.sql('SELECT pg_sleep(1.2)');
    for (const id of [4, 5, 6]) cluster.sql(`INSERT INTO markers VALUES (${id}, 'after')`, 'healthmate');
    // Archive the segment holding the later commits, as archive_timeout would within a minute.
    const segment = cluster.sql('SELECT pg_walfile_name(pg_switch_wal())');
    await waitFor('the WAL segment to be archived', () => cluster.sql('SELECT last_archived_wal FROM pg_stat_archiver') >= segment, 30_000, 200);
    expect(readdirSync(walDir)).toContain(segment);
    cluster.stop('fast');

    const target = join(root, 'restored');
    const tooEarly = runScript('restore-pitr.ts', [...flags, '--to', '2000-01-01T00:00:00Z', '--target-dir', target], { env: cluster.scriptEnv });
    expect(tooEarly.code).toBe(2);
    expect(tooEarly.stderr).toMatch(/error: no base backup in .* ended before 2000-01-01T00:00:00.000Z/);
    const noZone = runScript('restore-pitr.ts', [...flags, '--to', '2026-01-01 10:00', '--target-dir', target], { env: cluster.scriptEnv });
    expect(noZone.code).toBe(2);

    const prepare = runScript('restore-pitr.ts', [...flags, '--to', noted, '--target-dir', target, '--identity', identity, '--owner', 'postgres:postgres'], {
      env: cluster.scriptEnv,
    });
    expect(prepare.code, prepare.stderr).toBe(0);
    expect(readFileSync(join(target, 'postgresql.auto.conf'), 'utf8')).toContain(`recovery_target_time = '${noted.replace('T', ' ').replace('Z', '+00')}'`);
    const again = runScript('restore-pitr.ts', [...flags, '--to', noted, '--target-dir', target, '--identity', identity], { env: cluster.scriptEnv });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is not empty');

    const port = await freePort();
    const sock = join(root, 'restored-sock');
    mkdirSync(sock);
    chownSync(
      sock,
      Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout),
      Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout),
    );
    const ctl = (...args: string[]) =>
      spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', target, '-l', join(sock, 'restored.log'), ...args], { encoding: 'utf8' });
    onTestFinished(() => {
      ctl('-m', 'immediate', '-w', 'stop');
    });
    const started = ctl('-o', `-c port=${port} -c unix_socket_directories=${sock} -c archive_mode=off`, '-w', '-t', '120', 'start');
    expect(started.status, `${started.stderr}\n${readFileSync(join(sock, 'restored.log'), 'utf8')}`).toBe(0);
    const psql = (sql: string) =>
      spawnSync(`${PG_BIN}/psql`, ['-X', '-A', '-t', '-h', sock, '-p', String(port), '-U', cluster.user, '-d', 'healthmate', '-c', sql], {
        encoding: 'utf8',
      }).stdout.trim();
    await waitFor('recovery to finish and promote', () => psql('SELECT pg_is_in_recovery()') === 'f', 60_000, 200);
    expect(psql("SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM markers")).toBe('1:before,2:before,3:before');
    expect(readFileSync(join(sock, 'restored.log'), 'utf8')).toMatch(/recovery stopping before commit of transaction \d+, time/);
  });
});
