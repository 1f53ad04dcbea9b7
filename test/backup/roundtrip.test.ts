import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../../scripts/lib/backup/lock.js';
import type { Manifest } from '../../scripts/lib/backup/manifest.js';
import { nodeWithTsx, overriding, REPO, runScript, SCRIPT_TIMEOUT_MS, scriptResult } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
import { type Cluster, clusterFlags, PG_BIN, startCluster } from './cluster.js';
import { DATASET_SQL, tableChecksums } from './dataset.js';

let root: string;
let cluster: Cluster;
let original: Record<string, string>;
let run = 0;

beforeAll(async () => {
  needTool('age');
  needTool('age-keygen');
  root = mkdtempSync(join(tmpdir(), 'healthmate-backup-'));
  chmodSync(root, 0o755); // the cluster runs as the postgres user
  cluster = await startCluster(join(root, 'pg'));
  cluster.sql('CREATE DATABASE healthmate');
  cluster.sql(DATASET_SQL, 'healthmate');
  original = tableChecksums(cluster, 'healthmate');
});

afterAll(() => {
  cluster?.stop('immediate');
  if (root) rmSync(root, { recursive: true, force: true });
});

/** A fresh state folder per test, so backups of one test never meet another's. */
function state(): { dir: string; backups: string; flags: string[] } {
  const dir = join(root, `state-${++run}`);
  return { dir, backups: join(dir, 'backups'), flags: clusterFlags(cluster, dir) };
}

function script(name: string, args: string[]) {
  return runScript(name, args, { env: cluster.scriptEnv });
}

function artifacts(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => !n.startsWith('.'))
        .sort()
    : [];
}

function manifestOf(dir: string): Manifest {
  const name = artifacts(dir).find((n) => n.endsWith('.json')) as string;
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Manifest;
}

function keys(dir: string): { identity: string; recipients: string } {
  const identity = join(dir, 'identity.txt');
  const recipients = join(dir, 'recipients.txt');
  spawnSync('age-keygen', ['-o', identity], { encoding: 'utf8' });
  writeFileSync(recipients, spawnSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).stdout);
  return { identity, recipients };
}

function databases(): string[] {
  return cluster.sql('SELECT datname FROM pg_database ORDER BY 1').split('\n');
}

describe('backup-db.ts and restore-db.ts round trip', () => {
  it('restores a plain backup into a new database with identical per-table content', () => {
    const s = state();
    const backup = script('backup-db.ts', s.flags);
    expect(backup.stderr).not.toContain(cluster.password);
    expect(backup.code, backup.stderr).toBe(0);
    const [artifact, manifestFile] = artifacts(s.backups);
    expect(artifact).toMatch(/^healthmate-\d{8}T\d{6}Z\.dump$/);
    expect(manifestFile).toBe(`${artifact}.json`);
    const manifest = manifestOf(s.backups);
    expect(manifest).toMatchObject({ name: artifact, database: 'healthmate', encrypted: false, verified: true, compressionLevel: 1 });
    expect(manifest.serverVersion).toMatch(/^15\./);
    expect(manifest.pgDumpVersion).toContain('15.');
    const sha = spawnSync('sha256sum', [join(s.backups, artifact as string)], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(manifest.sha256).toBe(sha);
    const metrics = readFileSync(join(s.dir, 'textfile', 'healthmate_backup.prom'), 'utf8');
    expect(metrics).toContain('healthmate_backup_last_status{database="healthmate"} 1');
    expect(metrics).toContain(`healthmate_backup_last_size_bytes{database="healthmate"} ${manifest.size}`);
    expect(metrics).toContain('healthmate_backups_kept{database="healthmate"} 1');

    const restore = script('restore-db.ts', [...s.flags, '--latest', '--target-db', 'restored_plain']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/restored .* into database restored_plain in \d+\.\d s/);
    expect(tableChecksums(cluster, 'restored_plain')).toEqual(original);

    const again = script('restore-db.ts', [...s.flags, '--latest', '--target-db', 'restored_plain']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('database "restored_plain" already holds tables');
    const forced = script('restore-db.ts', [...s.flags, '--latest', '--target-db', 'restored_plain', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(tableChecksums(cluster, 'restored_plain')).toEqual(original);
  });

  it('encrypts with age so that Debian age decrypts it, and restores with the identity', () => {
    const s = state();
    const k = keys(root);
    const backup = script('backup-db.ts', [...s.flags, '--set', `BACKUP_AGE_RECIPIENTS_FILE=${k.recipients}`]);
    expect(backup.code, backup.stderr).toBe(0);
    const artifact = artifacts(s.backups).find((n) => n.endsWith('.dump.age')) as string;
    expect(artifact).toBeDefined();
    const path = join(s.backups, artifact);
    expect(readFileSync(path).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(manifestOf(s.backups).encrypted).toBe(true);

    const plain = join(root, `age-cli-${run}.dump`);
    const age = spawnSync('age', ['-d', '-i', k.identity, '-o', plain, path], { encoding: 'utf8' });
    expect(age.status, age.stderr).toBe(0);
    const full = spawnSync(`${PG_BIN}/pg_restore`, ['-f', '/dev/null', plain], { encoding: 'utf8' });
    expect(full.status, full.stderr).toBe(0);
    const sha = spawnSync('sha256sum', [plain], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(manifestOf(s.backups).dumpSha256).toBe(sha);

    const wrong = keys(join(root, 'pg'));
    const before = databases();
    const mismatch = script('restore-db.ts', [...s.flags, '--latest', '--identity', wrong.identity, '--target-db', 'restored_wrong_key']);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/none of the age identities given can decrypt/);
    expect(databases()).toEqual(before);

    const restore = script('restore-db.ts', [...s.flags, '--latest', '--identity', k.identity, '--target-db', 'restored_age']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(tableChecksums(cluster, 'restored_age')).toEqual(original);
    expect(readdirSync(s.backups).filter((n) => n.startsWith('.restore-'))).toEqual([]);
  });

  it('--verify-restore restores into a scratch database, compares row counts in the dump snapshot and drops it', () => {
    const s = state();
    // What a --verify-restore run killed with -9 leaves behind; the next one drops it.
    cluster.sql('CREATE DATABASE healthmate_verify_20200101t000000z');
    const result = script('backup-db.ts', [...s.flags, '--verify-restore']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('row counts match the dump snapshot');
    expect(result.stderr).toContain('dropping scratch database healthmate_verify_20200101t000000z left by an interrupted run');
    expect(manifestOf(s.backups).rowCounts).toEqual({
      'clinical.empty_table': 0,
      'clinical.readings': 20000,
      'public.users': 2000,
      'Ünïcode schema.Tâble with spaces': 4,
    });
    expect(databases().filter((d) => d.includes('_verify_'))).toEqual([]);
  });

  it('refuses a flipped byte on the checksum, and a truncated dump on the full read that --list misses', () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    const name = artifacts(s.backups)[0] as string;
    const path = join(s.backups, name);
    const bytes = readFileSync(path);
    const flipped = Buffer.from(bytes);
    const middle = Math.floor(bytes.length / 2);
    flipped[middle] = (flipped[middle] as number) ^ 0x01;
    writeFileSync(path, flipped);
    const before = databases();
    const restore = script('restore-db.ts', [...s.flags, '--file', name, '--target-db', 'restored_flipped']);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain('fails its checksum');
    expect(databases()).toEqual(before);

    // A dump cut in half with a manifest that matches it: only a full read notices.
    const half = bytes.subarray(0, Math.floor(bytes.length / 2));
    writeFileSync(path, half);
    const manifest = manifestOf(s.backups);
    const sha = spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0] as string;
    writeFileSync(`${path}.json`, JSON.stringify({ ...manifest, sha256: sha, size: half.length }));
    expect(spawnSync(`${PG_BIN}/pg_restore`, ['--list', path]).status).toBe(0);
    const verify = script('restore-db.ts', [...s.flags, '--file', name, '--verify']);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain('is not a complete dump');
    // Restored anyway: pg_restore fails half-way, and the new database it was filling is dropped again.
    const partial = script('restore-db.ts', [...s.flags, '--file', name, '--target-db', 'restored_half']);
    expect(partial.code, partial.stderr).toBe(1);
    expect(databases()).toEqual(before);
  });

  it('pg_restore keeps the priority restore-db was started with; restore-db itself (the overlapping checksum) drops to the lowest once it runs', () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    // A pg_restore on PATH that notes its own niceness and, when done, its parent's (restore-db's node).
    const bin = join(root, `bin-${run}`);
    mkdirSync(bin);
    const seen = join(bin, 'nice.txt');
    writeFileSync(
      join(bin, 'pg_restore'),
      `#!/bin/sh\nps -o ni= -p $$ >> '${seen}'\n'${PG_BIN}/pg_restore' "$@"\nrc=$?\nps -o ni= -p $PPID >> '${seen}'\nexit $rc\n`,
    );
    chmodSync(join(bin, 'pg_restore'), 0o755);
    // Started at niceness 10, whatever the suite's own (a suite under `nice -n 19` too: root may lower it), so a drop shows.
    const started = 10;
    const restore = scriptResult(
      'restore-db.ts under nice',
      spawnSync(
        'nice',
        [
          '-n',
          String(started - getPriority()),
          ...nodeWithTsx(join(REPO, 'scripts', 'restore-db.ts'), ...s.flags, '--latest', '--target-db', 'restored_niced'),
        ],
        {
          cwd: REPO,
          env: { ...process.env, ...cluster.scriptEnv, PATH: `${bin}:${cluster.scriptEnv.PATH}` },
          encoding: 'utf8',
          timeout: SCRIPT_TIMEOUT_MS,
        },
      ),
      SCRIPT_TIMEOUT_MS,
    );
    expect(restore.code, restore.stderr).toBe(0);
    expect(tableChecksums(cluster, 'restored_niced')).toEqual(original);
    expect(
      readFileSync(seen, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    ).toEqual([String(started), '19']);
  });

  it('refuses bad input with exit 2 and one sentence, deleting nothing', () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    const before = artifacts(s.backups);
    const cases: [string, string[], RegExp][] = [
      ['backup-db.ts', ['--set', 'POSTGRES_DB=no_such_db'], /database "no_such_db" does not exist/],
      ['backup-db.ts', ['--set', 'POSTGRES_PASSWORD=Wrong-Password-123456'], /PostgreSQL refused user "healthmate_user"/],
      [
        'backup-db.ts',
        ['--set', `BACKUP_AGE_RECIPIENTS_FILE=${join(root, 'missing-recipients.txt')}`],
        /age recipients file .* cannot be read \(it does not exist\)/,
      ],
      ['restore-db.ts', ['--file', join(root, 'no-such.dump')], /backup file .* does not exist/],
    ];
    for (const [name, extra, message] of cases) {
      const result = script(name, overriding(clusterFlags(cluster, s.dir), extra));
      expect(result.code, `${name} ${extra.join(' ')}: ${result.stderr}`).toBe(2);
      const errors = result.stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(artifacts(s.backups)).toEqual(before);
    }
  });

  it('refuses a second run while the lock holder lives, and takes over the lock of a dead one', async () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    const holder = spawn('sleep', ['60']);
    try {
      const lock = join(s.backups, '.healthmate.lock');
      const record = (pid: number) =>
        JSON.stringify({ pid, pidStart: processStartTime(pid), startedAt: new Date().toISOString(), host: hostName(), purpose: 'backup of healthmate' });
      writeFileSync(lock, record(holder.pid as number));
      const refused = script('backup-db.ts', s.flags);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/another backup of healthmate is running \(pid \d+/);
      expect(existsSync(lock)).toBe(true);

      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      const recovered = script('backup-db.ts', s.flags);
      expect(recovered.code, recovered.stderr).toBe(0);
      expect(existsSync(lock)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('--dry-run lists what retention would delete; the real run deletes exactly that', () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    const [name] = artifacts(s.backups) as [string];
    const manifest = manifestOf(s.backups);
    // Older verified backups: two on one day (the earlier must go), one 400 days ago (must go), one last month (kept).
    const now = new Date();
    const old = (days: number, hour: number) => {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days, hour));
      return `healthmate-${d.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z.dump`;
    };
    const seeded = [old(2, 1), old(2, 3), old(400, 2), old(35, 2)];
    for (const seed of seeded) {
      copyFileSync(join(s.backups, name), join(s.backups, seed));
      writeFileSync(join(s.backups, `${seed}.json`), JSON.stringify({ ...manifest, name: seed }));
    }
    const dry = script('backup-db.ts', [...s.flags, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const wouldDelete = dry.stdout
      .split('\n')
      .filter((l) => l.startsWith('retention would delete '))
      .map((l) => l.slice('retention would delete '.length))
      .sort();
    // Today's earlier backup goes too: the new one becomes the newest of today.
    expect(wouldDelete).toEqual([old(2, 1), old(400, 2), name].sort());
    expect(artifacts(s.backups)).toHaveLength(10);

    const real = script('backup-db.ts', s.flags);
    expect(real.code, real.stderr).toBe(0);
    const left = artifacts(s.backups).filter((n) => n.endsWith('.dump'));
    for (const gone of wouldDelete) expect(left).not.toContain(gone);
    expect(left).toContain(old(2, 3));
    expect(left).toContain(old(35, 2));
  });

  it('retention never deletes an old dump it cannot vouch for (no manifest, a damaged one, one not verified) and says so', () => {
    const s = state();
    expect(script('backup-db.ts', s.flags).code).toBe(0);
    const [name] = artifacts(s.backups) as [string];
    const manifest = manifestOf(s.backups);
    // All 400 days old: far outside every window, so only the proof of what they are decides.
    const old = (hour: number) => `healthmate-${new Date(Date.now() - 400 * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')}T0${hour}0000Z.dump`;
    const [verified, noManifest, damaged, unverified] = [old(1), old(2), old(3), old(4)] as [string, string, string, string];
    for (const seed of [verified, noManifest, damaged, unverified]) copyFileSync(join(s.backups, name), join(s.backups, seed));
    writeFileSync(join(s.backups, `${verified}.json`), JSON.stringify({ ...manifest, name: verified }));
    writeFileSync(join(s.backups, `${damaged}.json`), '{"name": "cut short');
    writeFileSync(join(s.backups, `${unverified}.json`), JSON.stringify({ ...manifest, name: unverified, verified: false }));
    const notes = [
      `retention leaves ${noManifest} alone: it has no manifest, so nothing proves what it holds; check it and delete it by hand`,
      `retention leaves ${damaged} alone: its manifest is damaged, so nothing proves what it holds; check it and delete it by hand`,
      `retention leaves ${unverified} alone: its manifest says it was not verified, so nothing proves what it holds; check it and delete it by hand`,
    ];

    const dry = script('backup-db.ts', [...s.flags, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const planned = dry.stdout.split('\n').filter((l) => l.startsWith('retention would delete ') || l.startsWith('retention leaves '));
    expect(planned.sort()).toEqual([`retention would delete ${name}`, `retention would delete ${verified}`, ...notes].sort());

    const real = script('backup-db.ts', s.flags);
    expect(real.code, real.stderr).toBe(0);
    const left = artifacts(s.backups);
    expect(left).not.toContain(verified);
    for (const kept of [noManifest, damaged, `${damaged}.json`, unverified, `${unverified}.json`]) expect(left).toContain(kept);
    for (const note of notes) expect(real.stderr).toContain(`warning: ${note}\n`);
  });
});

function hostName(): string {
  return spawnSync('hostname', [], { encoding: 'utf8' }).stdout.trim();
}
