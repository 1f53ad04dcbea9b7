import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { overriding, REPO, runScript, runScriptAsync, type ScriptResult } from '../helpers/run.js';
import { startSilentTcpProcess } from '../helpers/silent-server.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { needTool } from '../helpers/tools.js';
import { type Cluster, clusterFlags, startCluster } from './cluster.js';

/**
 * Offsite copies against a real OpenSSH server (SFTP, loopback port, temp keys)
 * and a real PostgreSQL 15. The remote folder is on this machine, so the test
 * reads, corrupts and lists it directly; rclone only reaches it over SFTP.
 */
let root: string;
let cluster: Cluster;
let run = 0;
let hungRemote: ReturnType<typeof againstHungRemote>;
const ROWS = 80_000;
/** The hung-remote trial's BACKUP_OFFSITE_IDLE_TIMEOUT: its lowest, so the trial lasts seconds, not the default's minute. */
const HUNG_IDLE_TIMEOUT = 5;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'healthmate-offsite-'));
  chmodSync(root, 0o755); // the cluster runs as the postgres user
  cluster = await startCluster(join(root, 'pg'));
  cluster.sql('CREATE DATABASE healthmate');
  // About 3 MB of dump: with a 1 MiB/s bandwidth limit an upload lasts long enough to cut the line mid-copy.
  cluster.sql(`CREATE TABLE readings AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, ${ROWS}) g;`, 'healthmate');
  let dialled = (): void => undefined;
  const reached = new Promise<void>((resolve) => {
    dialled = resolve;
  });
  hungRemote = againstHungRemote(dialled);
  // Its test reports a failure; until then it is not an unhandled rejection.
  hungRemote.catch(() => undefined);
  // The other tests keep both cores busy: they start once the trial has dumped and dialled (its idle
  // timeouts are running), or it would spend that start waiting for CPU and end seconds later.
  await Promise.race([reached, hungRemote.catch(() => undefined)]);
});

afterAll(async () => {
  // It uses the cluster and the temp folder (and runs on when its test is filtered out).
  await hungRemote?.catch(() => undefined);
  cluster?.stop('immediate');
  if (root) rmSync(root, { recursive: true, force: true });
});

async function sshdForTest(): Promise<Sshd> {
  const sshd = await startSshd();
  onTestFinished(() => sshd.stop());
  return sshd;
}

/** rclone's env form of the sftp remote "offsite": no secret, the key travels as a file. */
function rcloneEnv(sshd: Sshd): Record<string, string> {
  return {
    RCLONE_CONFIG_OFFSITE_TYPE: 'sftp',
    RCLONE_CONFIG_OFFSITE_HOST: sshd.host,
    RCLONE_CONFIG_OFFSITE_PORT: String(sshd.port),
    RCLONE_CONFIG_OFFSITE_USER: sshd.user,
    RCLONE_CONFIG_OFFSITE_KEY_FILE: sshd.keyFile,
    RCLONE_CONFIG_OFFSITE_KNOWN_HOSTS_FILE: sshd.knownHostsFile,
  };
}

interface State {
  dir: string;
  backups: string;
  remote: string;
  flags: string[];
}

function state(extra: string[] = []): State {
  const dir = join(root, `state-${++run}`);
  const remote = join(root, `remote-${run}`);
  return {
    dir,
    backups: join(dir, 'backups'),
    remote,
    flags: overriding([...clusterFlags(cluster, dir), '--set', `BACKUP_OFFSITE_REMOTE=offsite:${remote}`], extra),
  };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function manifest(path: string): { sha256: string; size: number } {
  return JSON.parse(readFileSync(`${path}.json`, 'utf8')) as { sha256: string; size: number };
}

function metric(s: State, file: string, name: string): string | undefined {
  const path = join(s.dir, 'textfile', file);
  if (!existsSync(path)) return undefined;
  return new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(readFileSync(path, 'utf8'))?.[1];
}

const OFFSITE_PROM = 'healthmate_backup_offsite_healthmate.prom';

function backupDb(s: State, env: Record<string, string>, args: string[] = []) {
  return runScript('backup-db.ts', [...s.flags, ...args], { env: { ...cluster.scriptEnv, ...env } });
}

/** backup-db.ts in the background, for tests that act while it runs. */
function startBackup(s: State, env: Record<string, string>): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(join(REPO, 'node_modules', '.bin', 'tsx'), [join(REPO, 'scripts', 'backup-db.ts'), ...s.flags], {
    cwd: REPO,
    env: { ...process.env, ...cluster.scriptEnv, ...env },
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

/** Command lines of every running rclone process, from /proc. */
function rcloneCmdlines(): string[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .flatMap((n) => {
      try {
        const argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('rclone') ? [argv.join(' ')] : [];
      } catch {
        return [];
      }
    });
}

/** Makes a local backup yesterday's, so local retention (newest of each day) keeps it next to the next run's. */
function backdate(s: State, name: string): string {
  const yesterday = `healthmate-${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')}T020000Z.dump`;
  renameSync(join(s.backups, name), join(s.backups, yesterday));
  const moved = JSON.parse(readFileSync(join(s.backups, `${name}.json`), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(s.backups, `${yesterday}.json`), JSON.stringify({ ...moved, name: yesterday }));
  rmSync(join(s.backups, `${name}.json`));
  return yesterday;
}

/** Kills the server and its per-connection children, so a transfer in flight breaks (sshd -D keeps sessions alive otherwise). */
function cutSshd(sshd: Sshd): void {
  const pid = Number(readFileSync(join(sshd.dir, 'sshd.pid'), 'utf8'));
  const children = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    });
  process.kill(pid, 'SIGKILL');
  for (const child of children) process.kill(Number(child), 'SIGKILL');
}

/**
 * backup-db.ts against a remote that accepts TCP and never answers: two of rclone's
 * idle timeouts. It starts in beforeAll and runs beside the other tests
 * (the silent server is a child process, so their spawnSync does not skew its clock);
 * `dialled` is called when it first reaches the server; its test, the last, waits for it.
 */
async function againstHungRemote(dialled: () => void): Promise<{ s: State; failed: ScriptResult; acceptedAt: number[] }> {
  const silent = await startSilentTcpProcess();
  try {
    const s = state();
    mkdirSync(s.dir, { recursive: true });
    // A real key: rclone reads it before it dials; the handshake is what never ends.
    const key = join(s.dir, 'offsite_ed25519');
    const keygen = spawnSync(needTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-f', key], { encoding: 'utf8' });
    if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr}`);
    writeFileSync(join(s.dir, 'known_hosts'), '');
    const env = {
      RCLONE_CONFIG_OFFSITE_TYPE: 'sftp',
      RCLONE_CONFIG_OFFSITE_HOST: '127.0.0.1',
      RCLONE_CONFIG_OFFSITE_PORT: String(silent.port),
      RCLONE_CONFIG_OFFSITE_USER: 'healthmate',
      RCLONE_CONFIG_OFFSITE_KEY_FILE: key,
      RCLONE_CONFIG_OFFSITE_KNOWN_HOSTS_FILE: join(s.dir, 'known_hosts'),
    };
    const backup = runScriptAsync('backup-db.ts', s.flags, { env: { ...cluster.scriptEnv, ...env, BACKUP_OFFSITE_IDLE_TIMEOUT: String(HUNG_IDLE_TIMEOUT) } });
    void silent.firstAccepted.then(dialled);
    const failed = await backup;
    return { s, failed, acceptedAt: silent.acceptedAt() };
  } finally {
    await silent.close();
  }
}

// Before the SFTP tests, whose last one waits for the hung remote: these run while it hangs.
describe('offsite bad input: exit 2, one sentence, nothing changed', () => {
  const cases: { name: string; args: string[]; envFile?: string; code: number; message: RegExp }[] = [
    {
      name: 'an inline remote that could carry a secret',
      args: ['--set', 'BACKUP_OFFSITE_REMOTE=:sftp,host=example.org,pass=x:backups'],
      code: 2,
      message: /BACKUP_OFFSITE_REMOTE (\(from [^)]*\) )?must be a named rclone remote and a path/,
    },
    {
      name: 'a credential in the env file',
      args: [],
      envFile: 'RCLONE_CONFIG_OFFSITE_TYPE=s3\nRCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY=abc\n',
      code: 2,
      message: /RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY holds a credential, which must not sit in the env file/,
    },
    {
      name: 'a relative rclone.conf path',
      args: ['--set', 'BACKUP_OFFSITE_RCLONE_CONFIG=rclone.conf'],
      code: 2,
      message: /BACKUP_OFFSITE_RCLONE_CONFIG (\(from [^)]*\) )?must be an absolute path/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = state(c.args);
      const extra: string[] = [];
      if (c.envFile) {
        mkdirSync(s.dir, { recursive: true });
        writeFileSync(join(s.dir, 'env'), c.envFile);
        extra.push('--env-file', join(s.dir, 'env'));
      }
      const result = backupDb(s, {}, extra);
      expect(result.code, result.stderr).toBe(c.code);
      expect(result.stderr).toMatch(c.message);
      expect(result.stderr).not.toContain('abc');
      expect(existsSync(s.backups)).toBe(false);
    });
  }

  it('an undefined remote is bad input: refused before the backup, in --dry-run and the real run alike, naming how to define it', () => {
    const s = state(['--set', 'BACKUP_OFFSITE_REMOTE=nosuch:backups']);
    for (const args of [['--dry-run'], []]) {
      const result = backupDb(s, {}, args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/the rclone remote "nosuch", which is not defined.*RCLONE_CONFIG_NOSUCH_TYPE/s);
      expect(existsSync(s.backups)).toBe(false);
    }
  });

  it('restore-db --from-offsite without a remote', () => {
    const s = state(['--set', 'BACKUP_OFFSITE_REMOTE=']);
    const result = runScript('restore-db.ts', [...s.flags, '--from-offsite', '--list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--from-offsite needs BACKUP_OFFSITE_REMOTE, which is empty.');
  });
});

describe('offsite copies to a real SFTP server', () => {
  it('round trip: the env-file form of the remote, verified copy, metrics, restore-db --from-offsite', async () => {
    const sshd = await sshdForTest();
    const s = state();
    mkdirSync(s.dir, { recursive: true });
    // The operator's form: rclone's RCLONE_CONFIG_* lines in the env file itself.
    const envFile = join(s.dir, '.env.dev');
    writeFileSync(
      envFile,
      `${Object.entries(rcloneEnv(sshd))
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
      { mode: 0o600 },
    );
    const flags = ['--env-file', envFile];
    const result = backupDb(s, {}, flags);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/offsite offsite:.*: 1 copied and verified, 0 deleted by retention, 1 kept/);
    const [name] = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(name).toBeDefined();
    const local = join(s.backups, name as string);
    expect(files(s.remote)).toEqual([name, `${name}.json`]);
    expect(sha256(join(s.remote, name as string))).toBe(manifest(local).sha256);
    expect(readFileSync(join(s.remote, `${name}.json`), 'utf8')).toBe(readFileSync(`${local}.json`, 'utf8'));
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('1');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_missing')).toBe('0');
    expect(Number(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_success_timestamp_seconds'))).toBeGreaterThan(Date.now() / 1000 - 600);

    const list = runScript('restore-db.ts', [...s.flags, ...flags, '--from-offsite', '--list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(name);

    const plan = runScript('restore-db.ts', [...s.flags, ...flags, '--from-offsite', '--latest', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`download offsite:${s.remote}/${name} (rclone cat, in stream)`);

    // The local copy is gone (the host burned down): restore from the remote alone.
    rmSync(s.backups, { recursive: true, force: true });
    const restore = runScript('restore-db.ts', [...s.flags, ...flags, '--from-offsite', '--latest', '--target-db', 'from_offsite'], { env: cluster.scriptEnv });
    expect(restore.code, restore.stderr).toBe(0);
    expect(cluster.sql('SELECT count(*) FROM readings', 'from_offsite')).toBe(String(ROWS));
    // The downloaded temp copy is removed on exit.
    expect(files(s.backups).filter((n) => n.startsWith('.offsite-'))).toEqual([]);
  });

  it('a corrupted remote copy is found: restore-db --from-offsite refuses it, exit 1, nothing restored', async () => {
    const sshd = await sshdForTest();
    const s = state();
    expect(backupDb(s, rcloneEnv(sshd)).code).toBe(0);
    const [name] = files(s.remote).filter((n) => n.endsWith('.dump'));
    const remoteFile = join(s.remote, name as string);
    const bytes = readFileSync(remoteFile);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0xff; // same size, one byte flipped
    writeFileSync(remoteFile, bytes);

    for (const extra of [['--verify'], ['--target-db', 'from_corrupt']]) {
      const result = runScript('restore-db.ts', [...s.flags, '--from-offsite', '--latest', ...extra], { env: { ...cluster.scriptEnv, ...rcloneEnv(sshd) } });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/fails its checksum .*the offsite copy is damaged, refusing to use it/);
    }
    expect(cluster.sql("SELECT count(*) FROM pg_database WHERE datname = 'from_corrupt'")).toBe('0');
    expect(files(s.backups).filter((n) => n.startsWith('.offsite-'))).toEqual([]);
  });

  it('remote down before the copy: local backup kept, exit 1 with one line, metric 0; the next run copies what is missing', async () => {
    const s = state();
    const down = await sshdForTest();
    const env = rcloneEnv(down);
    await down.stop();
    const failed = backupDb(s, env);
    expect(failed.code, failed.stderr).toBe(1);
    const errors = failed.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^error: offsite copy to offsite:\S+ failed \(1 artifact\(s\) not there yet\): .*The local backup is intact; the next run copies what is missing\.$/,
    );
    const [first] = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(sha256(join(s.backups, first as string))).toBe(manifest(join(s.backups, first as string)).sha256);
    expect(metric(s, 'healthmate_backup.prom', 'healthmate_backup_last_status')).toBe('1');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('0');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_missing')).toBe('1');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_success_timestamp_seconds')).toBeUndefined();

    backdate(s, first as string);
    const up = await sshdForTest();
    const next = backupDb(s, rcloneEnv(up));
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/: 2 copied and verified/);
    const dumps = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(dumps).toHaveLength(2);
    expect(files(s.remote)).toEqual(dumps.flatMap((n) => [n, `${n}.json`]).sort());
    for (const n of dumps) expect(sha256(join(s.remote, n))).toBe(manifest(join(s.backups, n)).sha256);
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_missing')).toBe('0');
  });

  it('an upload damaged in transit, size intact, is refused by the read-back: exit 1, local intact, metrics 0; the next run copies it', async () => {
    const sshd = await sshdForTest();
    const s = state();
    // An SFTP-only account (no shell, as on most storage boxes) gives rclone no remote hash, so it
    // checks sizes only: the read-back is all that stands between a damaged upload and a "verified" copy.
    const sftpOnly = { ...rcloneEnv(sshd), RCLONE_CONFIG_OFFSITE_SHELL_TYPE: 'none' };
    // With a shell rclone would compare md5 sums itself and fail the copy before the read-back.
    const sftpServer = '/usr/lib/openssh/sftp-server';
    expect(existsSync(sftpServer), 'openssh-sftp-server is not installed: run `npm run setup`').toBe(true);
    const damaging = {
      ...sftpOnly,
      RCLONE_CONFIG_OFFSITE_SERVER_COMMAND: `${process.execPath} ${join(REPO, 'test', 'helpers', 'sftp-damage.mjs')} ${sftpServer}`,
    };
    const failed = backupDb(s, damaging);
    expect(failed.code, failed.stderr).toBe(1);
    const [name] = files(s.backups).filter((n) => n.endsWith('.dump'));
    const local = join(s.backups, name as string);
    const { size, sha256: sum } = manifest(local);
    const errors = failed.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: offsite copy to \S+ failed \(1 artifact\(s\) not there yet\): .*The local backup is intact/);
    const readBack =
      /the copy of (\S+) on \S+ reads back as sha256 ([0-9a-f]{12})\.\.\. \((\d+) bytes\), the manifest says ([0-9a-f]{12})\.\.\. \((\d+) bytes\); removed it/.exec(
        errors[0] ?? '',
      );
    // Same size, another hash.
    expect(readBack?.slice(1)).toEqual([name, expect.any(String), String(size), sum.slice(0, 12), String(size)]);
    expect(readBack?.[2]).not.toBe(sum.slice(0, 12));
    expect(sha256(local)).toBe(sum);
    expect(files(s.remote)).toEqual([]);
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('0');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_missing')).toBe('1');
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_success_timestamp_seconds')).toBeUndefined();

    const retried = backdate(s, name as string);
    const next = backupDb(s, sftpOnly);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/: 2 copied and verified/);
    const dumps = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(dumps).toContain(retried);
    expect(files(s.remote)).toEqual(dumps.flatMap((n) => [n, `${n}.json`]).sort());
    for (const n of dumps) expect(sha256(join(s.remote, n))).toBe(manifest(join(s.backups, n)).sha256);
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('1');
  });
  it('remote cut mid-copy: no remote artifact counts, local intact, no secret in rclone argv; the next run completes the remote', async () => {
    const s = state();
    const sshd = await sshdForTest();
    const keyText = readFileSync(sshd.keyFile, 'utf8').split('\n')[1] as string;
    // RCLONE_BWLIMIT (rclone's env form of --bwlimit) stretches the upload to a few seconds.
    const backup = startBackup(s, { ...rcloneEnv(sshd), RCLONE_BWLIMIT: '1M' });
    const seen: string[] = [];
    await waitFor(
      'a partial upload on the remote',
      () => {
        seen.push(...rcloneCmdlines());
        return files(s.remote).some((n) => n.endsWith('.partial'));
      },
      WAIT_BUDGET_MS,
      20,
    );
    seen.push(...rcloneCmdlines());
    cutSshd(sshd);
    expect(await backup.exit).toBe(1);
    expect(backup.stderr()).toMatch(/error: offsite copy to .* failed .*The local backup is intact/);

    expect(seen.some((c) => c.includes(' copyto '))).toBe(true);
    for (const line of seen) {
      expect(line).not.toContain(cluster.password);
      expect(line).not.toContain(keyText);
    }
    const [name] = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(sha256(join(s.backups, name as string))).toBe(manifest(join(s.backups, name as string)).sha256);
    // Only the partial name exists remotely: nothing there counts as a copy.
    expect(files(s.remote).filter((n) => !n.endsWith('.partial'))).toEqual([]);
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('0');

    await new Promise((r) => setTimeout(r, 1100));
    const up = await sshdForTest();
    const next = backupDb(s, rcloneEnv(up));
    expect(next.code, next.stderr).toBe(0);
    const dumps = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(files(s.remote)).toEqual(dumps.flatMap((n) => [n, `${n}.json`]).sort());
  });

  it('retention runs on the remote with the same GFS rules: exact survivors', async () => {
    const sshd = await sshdForTest();
    const s = state(['--set', 'BACKUP_KEEP_DAYS=2', '--set', 'BACKUP_KEEP_WEEKS=0', '--set', 'BACKUP_KEEP_MONTHS=0']);
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    mkdirSync(s.remote, { recursive: true });
    const verified = [`healthmate-${day}T010000Z.dump`, `healthmate-${day}T030000Z.dump`, `healthmate-${old}T020000Z.dump`];
    for (const n of verified) {
      writeFileSync(join(s.remote, n), 'x');
      writeFileSync(join(s.remote, `${n}.json`), '{}');
    }
    const noManifest = `healthmate-${old}T040000Z.dump`; // not verified: never counted, never deleted
    writeFileSync(join(s.remote, noManifest), 'x');
    writeFileSync(join(s.remote, `healthmate-${day}T050000Z.dump.partial`), 'x'); // a killed run's upload
    const other = `otherdb-${old}T020000Z.dump`; // another database's backups are not ours to delete
    writeFileSync(join(s.remote, other), 'x');
    writeFileSync(join(s.remote, `${other}.json`), '{}');

    const result = backupDb(s, rcloneEnv(sshd));
    expect(result.code, result.stderr).toBe(0);
    const [fresh] = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(files(s.remote)).toEqual(
      [fresh as string, `healthmate-${day}T030000Z.dump`, noManifest, other].flatMap((n) => (n === noManifest ? [n] : [n, `${n}.json`])).sort(),
    );
    expect(result.stderr).toContain(`offsite retention: deleted healthmate-${day}T010000Z.dump`);
    expect(result.stderr).toContain(`offsite retention: deleted healthmate-${old}T020000Z.dump`);
  });

  it('--no-offsite (as the deploy runs its pre-migration dump) leaves the remote alone', async () => {
    const sshd = await sshdForTest();
    const s = state();
    const result = backupDb(s, rcloneEnv(sshd), ['--no-offsite']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/^offsite /m);
    expect(files(s.remote)).toEqual([]);
    expect(existsSync(join(s.dir, 'textfile', OFFSITE_PROM))).toBe(false);
  });

  it('backup-config.ts copies the config tarball to <remote>/config, verified', async () => {
    const sshd = await sshdForTest();
    const s = state();
    // A bundle folder of its own (a missing one is refused): one config file and its manifest are enough for the archive.
    const bundle = join(s.dir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, 'docker-compose.yml'), 'services: {}\n');
    writeFileSync(join(bundle, 'MANIFEST.json'), JSON.stringify({ env: 'dev', files: [{ path: 'docker-compose.yml' }] }));
    const result = runScript('backup-config.ts', [...s.flags, '--bundle-dir', bundle], { env: rcloneEnv(sshd) });
    expect(result.code, result.stderr).toBe(0);
    const [name] = files(join(s.backups, 'config')).filter((n) => n.endsWith('.tar.gz'));
    expect(files(join(s.remote, 'config'))).toEqual([name, `${name}.json`]);
    expect(sha256(join(s.remote, 'config', name as string))).toBe(manifest(join(s.backups, 'config', name as string)).sha256);
    expect(metric(s, 'healthmate_backup_offsite_config.prom', 'healthmate_backup_offsite_last_status')).toBe('1');
  });

  it('--dry-run lists the remote and names what retention would delete, changing nothing', async () => {
    const sshd = await sshdForTest();
    const s = state();
    mkdirSync(s.remote, { recursive: true });
    const old = 'healthmate-20200101T000000Z.dump';
    writeFileSync(join(s.remote, old), 'x');
    writeFileSync(join(s.remote, `${old}.json`), '{}');
    writeFileSync(join(s.remote, 'healthmate-20200102T000000Z.dump'), 'x');
    writeFileSync(join(s.remote, 'healthmate-20200102T000000Z.dump.json'), '{}');
    const before = files(s.remote);
    const result = backupDb(s, rcloneEnv(sshd), ['--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    // The new backup becomes the newest, so both old ones fall out of every window.
    expect(result.stdout).toContain(`offsite retention would delete offsite:${s.remote}/healthmate-20200101T000000Z.dump\n`);
    expect(result.stdout).toContain(`offsite retention would delete offsite:${s.remote}/healthmate-20200102T000000Z.dump\n`);
    expect(files(s.remote)).toEqual(before);
    expect(existsSync(s.backups)).toBe(false);
  });

  it('a remote that accepts TCP and never answers (a hung SFTP server): the offsite step gives up after 2 tries of the idle timeout, local backup kept', async () => {
    // Bounded by rclone's flags, not by this test's clock: exactly 2 connections (the old flags made 3), the
    // second after the first one's idle timeout (BACKUP_OFFSITE_IDLE_TIMEOUT; 30 s by default, see offsite-plan).
    const { s, failed, acceptedAt } = await hungRemote;
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(/^error: offsite copy to offsite:\S+ failed \(1 artifact\(s\) not there yet\): .*i\/o timeout.*The local backup is intact/m);
    const [first, second, ...more] = acceptedAt as [number, number, ...number[]];
    expect(more).toEqual([]);
    // Idle time is wall-clock time, which a busy CPU does not stretch: the timeout, give or take rclone's own tick.
    expect(second - first).toBeGreaterThanOrEqual(HUNG_IDLE_TIMEOUT * 1000 - 1000);
    expect(second - first).toBeLessThan(HUNG_IDLE_TIMEOUT * 1000 + 15_000);
    const [dump] = files(s.backups).filter((n) => n.endsWith('.dump'));
    expect(sha256(join(s.backups, dump as string))).toBe(manifest(join(s.backups, dump as string)).sha256);
    expect(metric(s, OFFSITE_PROM, 'healthmate_backup_offsite_last_status')).toBe('0');
  });
});
