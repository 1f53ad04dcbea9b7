import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { freePort, waitFor } from '../helpers/net.js';
import { overriding, REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { type Cluster, clusterFlags, PG_BIN, startCluster } from './cluster.js';

let root: string;
let cluster: Cluster;
let run = 0;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'healthmate-backup-fail-'));
  chmodSync(root, 0o755); // the cluster runs as the postgres user
  cluster = await startCluster(join(root, 'pg'));
  cluster.sql('CREATE DATABASE healthmate');
  // About 6 MB of dump at -Z1: far more than a pipe buffer, so pg_dump blocks mid-stream when its reader stops.
  cluster.sql('CREATE TABLE readings AS SELECT g AS id, md5(g::text) || md5((g * 3)::text) AS v FROM generate_series(1, 150000) g;', 'healthmate');
});

afterAll(() => {
  cluster?.stop('immediate');
  if (root) rmSync(root, { recursive: true, force: true });
});

function state(): { dir: string; backups: string; flags: string[] } {
  const dir = join(root, `state-${++run}`);
  return { dir, backups: join(dir, 'backups'), flags: clusterFlags(cluster, dir) };
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function status(stateDir: string): string | undefined {
  const text = readFileSync(join(stateDir, 'textfile', 'healthmate_backup.prom'), 'utf8');
  return /^healthmate_backup_last_status\{[^}]*\} (\d)$/m.exec(text)?.[1];
}

/** The script as a background process (tsx runs it in a child node process). */
function startBackup(flags: string[], tmp?: string): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(join(REPO, 'node_modules', '.bin', 'tsx'), [join(REPO, 'scripts', 'backup-db.ts'), ...flags], {
    cwd: REPO,
    env: { ...process.env, ...cluster.scriptEnv, ...(tmp ? { TMPDIR: tmp } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdout?.resume();
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exit, stderr: () => stderr };
}

/** Descendants of `pid` with their command names, from /proc. */
function descendants(pid: number): { pid: number; ppid: number; comm: string }[] {
  const all = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .flatMap((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return [{ pid: Number(n), ppid, comm }];
      } catch {
        return [];
      }
    });
  const found: typeof all = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = all.filter((p) => frontier.includes(p.ppid));
    found.push(...next);
    frontier = next.map((p) => p.pid);
  }
  return found;
}

async function pgDumpOf(backup: { child: ChildProcess; stderr: () => string }): Promise<{ pid: number; ppid: number }> {
  let dump: { pid: number; ppid: number } | undefined;
  let exitedEarly = false;
  backup.child.once('exit', () => {
    exitedEarly = dump === undefined;
  });
  await waitFor('pg_dump to start', () => {
    if (exitedEarly) return true;
    // The dump itself, not the `pg_dump --version` probe that runs first.
    dump = descendants(backup.child.pid as number).find(
      (p) => p.comm === 'pg_dump' && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('--format=custom'),
    );
    return dump !== undefined;
  });
  if (!dump) throw new Error(`backup-db.ts exited before its pg_dump started:\n${backup.stderr()}`);
  return dump;
}

/**
 * Holds ACCESS EXCLUSIVE on the table until release(): pg_dump waits for its lock, so it cannot
 * finish before the test has found it (a fast box would otherwise dump 6 MB before the first look).
 */
async function holdTableLock(): Promise<{ release: () => void }> {
  const psql = spawn(`${PG_BIN}/psql`, ['-X', '-A', '-t', '-q', '-h', cluster.socketDir, '-p', String(cluster.port), '-U', cluster.user, '-d', 'healthmate'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    psql.kill('SIGKILL');
  });
  let out = '';
  psql.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  psql.stdin?.write("BEGIN;\nLOCK TABLE readings IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n");
  await waitFor('the table lock', () => out.includes('locked'));
  return { release: () => psql.stdin?.end('COMMIT;\n') };
}

/** A verified backup made first, which every failure must leave intact. */
function previousBackup(s: { backups: string; flags: string[] }): string[] {
  const first = runScript('backup-db.ts', s.flags, { env: cluster.scriptEnv });
  expect(first.code, first.stderr).toBe(0);
  return files(s.backups);
}

describe('backup-db.ts failures leave no finished artifact and the previous backups intact', () => {
  it('kill -9 of pg_dump mid-stream: exit 1, partial removed, status 0', async () => {
    const s = state();
    const before = previousBackup(s);
    const lock = await holdTableLock();
    const backup = startBackup(s.flags);
    const dump = await pgDumpOf(backup);
    // Freeze the script, then let pg_dump go: it fills the pipe and blocks in the middle of its output.
    process.kill(dump.ppid, 'SIGSTOP');
    lock.release();
    await new Promise((r) => setTimeout(r, 300));
    process.kill(dump.pid, 'SIGKILL');
    process.kill(dump.ppid, 'SIGCONT');
    expect(await backup.exit).toBe(1);
    expect(backup.stderr()).toContain('pg_dump was killed (SIGKILL)');
    expect(files(s.backups)).toEqual(before);
    expect(status(s.dir)).toBe('0');
  });

  it('kill -9 of the script: no artifact or manifest; the next run recovers the lock and removes the partial', async () => {
    const s = state();
    const before = previousBackup(s);
    // kill -9 runs no cleanup in the script: its reaper removes the 0600 PGPASSFILE folder from its TMPDIR.
    const tmp = tempDir();
    const lock = await holdTableLock();
    const backup = startBackup(s.flags, tmp);
    const dump = await pgDumpOf(backup);
    expect(readdirSync(tmp).filter((n) => n.startsWith('healthmate-pgpass-'))).toHaveLength(1);
    process.kill(dump.ppid, 'SIGKILL');
    await backup.exit;
    lock.release();
    await waitFor('the reaper to remove the PGPASSFILE folder', () => !readdirSync(tmp).some((n) => n.startsWith('healthmate-pgpass-')));
    const left = files(s.backups);
    expect(left.filter((n) => !before.includes(n)).sort()).toEqual(['.healthmate.lock', expect.stringMatching(/\.dump\.partial$/)].sort());
    expect(status(s.dir)).toBe('0');

    const next = runScript('backup-db.ts', s.flags, { env: cluster.scriptEnv });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/removing .*\.partial left by an interrupted run/);
    expect(files(s.backups).filter((n) => n.endsWith('.partial') || n.endsWith('.lock'))).toEqual([]);
    expect(status(s.dir)).toBe('1');
  });

  // The real pg_restore, fed a copy of the stream cut after 64 KiB: it fails as on any dump it cannot read.
  it.each([
    { name: 'plain', args: [] as string[] },
    { name: 'age-encrypted', args: ['--set', 'BACKUP_AGE_RECIPIENTS_FILE=<recipients>'] },
    { name: '--verify-restore', args: ['--verify-restore'] },
  ])('a dump the verifier cannot read ($name): exit 1, no artifact, no manifest, status 0', async ({ args }) => {
    const s = state();
    const before = previousBackup(s);
    const bin = join(root, `bin-${run}`);
    mkdirSync(bin);
    writeFileSync(join(bin, 'pg_restore'), `#!/bin/sh\nhead -c 65536 | '${PG_BIN}/pg_restore' "$@"\n`, { mode: 0o755 });
    const recipients = join(root, `recipients-${run}.txt`);
    writeFileSync(recipients, `${await identityToRecipient(await generateIdentity())}\n`);
    const result = runScript('backup-db.ts', [...s.flags, ...args.map((a) => a.replace('<recipients>', recipients))], {
      env: { ...cluster.scriptEnv, PATH: `${bin}:${cluster.scriptEnv.PATH}` },
    });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^error: the output is not readable by pg_restore: .*(could not read from input file|unexpected end of file)/m);
    // Only the earlier verified backup: no .dump or .dump.age, no .partial, no manifest of this run.
    expect(files(s.backups).filter((n) => !n.startsWith('.'))).toEqual(before.filter((n) => !n.startsWith('.')));
    expect(status(s.dir)).toBe('0');
    expect(cluster.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'healthmate_verify_%'")).toBe('0');
  });

  it('server down: clear error, exit 1, retention not run', async () => {
    const s = state();
    const before = previousBackup(s);
    // An old verified backup that retention would delete on success.
    const [artifact] = before.filter((n) => n.endsWith('.dump'));
    const old = 'healthmate-20200101T020000Z.dump';
    copyFileSync(join(s.backups, artifact as string), join(s.backups, old));
    copyFileSync(join(s.backups, `${artifact}.json`), join(s.backups, `${old}.json`));
    const deadPort = await freePort();
    const result = runScript('backup-db.ts', overriding(s.flags, ['--set', `BACKUP_DB_PORT=${deadPort}`]), { env: cluster.scriptEnv });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`error: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${deadPort}`));
    expect(files(s.backups)).toEqual([...before, old, `${old}.json`].sort());
    expect(status(s.dir)).toBe('0');
  });

  it('stops before dumping when free space is below database size x BACKUP_SPACE_FACTOR', () => {
    const s = state();
    const before = previousBackup(s);
    const result = runScript('backup-db.ts', [...s.flags, '--set', 'BACKUP_SPACE_FACTOR=100000'], { env: cluster.scriptEnv });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: only .* MiB free in .*, the backup needs .* MiB/);
    expect(result.stderr).not.toContain('writing ');
    expect(files(s.backups)).toEqual(before);
  });

  it('disk full (a 1 MiB tmpfs): partial removed, clear error', () => {
    const s = state();
    const small = join(root, `tmpfs-${run}`);
    mkdirSync(small);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', small], { encoding: 'utf8' });
    expect(mount.status, `mounting a tmpfs needs root: ${mount.stderr}`).toBe(0);
    onTestFinished(() => {
      spawnSync('umount', [small]);
    });
    const result = runScript('backup-db.ts', [...s.flags, '--set', `BACKUP_DIR=${small}`, '--set', 'BACKUP_SPACE_FACTOR=0'], { env: cluster.scriptEnv });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: the disk holding .* is full; the partial backup was removed/);
    expect(files(small).filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(status(s.dir)).toBe('0');
  });

  // e2e chaos scenario 2 met this: with not one byte left, even the lock file cannot be written.
  it('a disk with not one byte left (a filled tmpfs): one sentence, earlier backups intact, status 0', () => {
    const s = state();
    const before = previousBackup(s);
    const small = join(root, `tmpfs-full-${run}`);
    mkdirSync(small);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0700', 'tmpfs', small], { encoding: 'utf8' });
    expect(mount.status, `mounting a tmpfs needs root: ${mount.stderr}`).toBe(0);
    onTestFinished(() => {
      spawnSync('umount', [small]);
    });
    // Earlier backups live on the full disk: copy the previous one there, then fill every byte left.
    const backups = join(small, 'backups');
    mkdirSync(backups);
    for (const name of before) copyFileSync(join(s.backups, name), join(backups, name));
    const fill = spawnSync('dd', ['if=/dev/zero', `of=${join(small, 'filler')}`, 'bs=4k'], { encoding: 'utf8' });
    expect(fill.stderr).toMatch(/No space left on device/);
    const result = runScript('backup-db.ts', [...s.flags, '--set', `BACKUP_DIR=${backups}`, '--set', 'BACKUP_SPACE_FACTOR=0'], { env: cluster.scriptEnv });
    expect(result.code).toBe(1);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('error:'));
    expect(errors, result.stderr).toEqual([expect.stringMatching(/^error: the disk holding .* is full/)]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(files(backups)).toEqual(before);
    // Compared by hash: toEqual on two 6 MB Buffers walks them byte by byte (a minute of CPU on a busy box).
    for (const name of before) expect(sha256(join(backups, name)), name).toBe(sha256(join(s.backups, name)));
    expect(status(s.dir)).toBe('0');
  });
});
