/**
 * Backup benchmark (not a timed test): a database that compresses like real
 * data (bench/dataset.ts: text, jsonb, numeric, bytea; ~21 MB per unit of
 * scale, so the default 50 is ~1 GB), backup-db.ts
 * against raw `pg_dump -Fc` at the same level (plain and age-encrypted),
 * restore-db.ts against raw `pg_restore -j2`, the peak RSS of backup-db.ts at
 * two database sizes (it streams, so it must stay flat), Debian's age against
 * the TypeScript age library on the same dump, and the specification's plain
 * `pg_dump > file.sql` for size and time.
 * Usage: npm run bench:backup [-- --scale 50 --runs 2]
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, createReadStream, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { encryptWithLibrary } from '../scripts/lib/backup/age.js';
import { type Cluster, clusterFlags, PG_BIN, startCluster } from '../test/backup/cluster.js';
import { REPO } from '../test/helpers/run.js';
import { loadRealisticData } from './dataset.js';

const { values } = parseArgs({
  options: { scale: { type: 'string', default: '50' }, 'small-scale': { type: 'string', default: '5' }, runs: { type: 'string', default: '2' } },
});
const SCALE = Number(values.scale);
const SMALL = Number(values['small-scale']);
const RUNS = Number(values.runs);
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

interface Timed {
  seconds: number;
  maxRssKb: number;
}

/** Runs a command under GNU time: wall seconds and the peak RSS of the largest process in the tree's leader. */
function timed(file: string, args: string[], env: NodeJS.ProcessEnv = {}, stdoutTo?: string): Timed {
  const start = process.hrtime.bigint();
  const shell = stdoutTo ? ['sh', '-c', '"$0" "$@" > "$OUT"', file, ...args] : [file, ...args];
  const result = spawnSync('/usr/bin/time', ['-f', '%M', ...shell], {
    encoding: 'utf8',
    env: { ...process.env, ...env, ...(stdoutTo ? { OUT: stdoutTo } : {}) },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${result.stderr.slice(-2000)}`);
  const maxRssKb = Number(result.stderr.trim().split('\n').at(-1));
  return { seconds, maxRssKb };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function newest(dir: string, suffix: string): string {
  const name = readdirSync(dir)
    .filter((n) => n.endsWith(suffix))
    .sort()
    .at(-1);
  if (!name) throw new Error(`no *${suffix} in ${dir}`);
  return join(dir, name);
}

/** Peak RSS of the node process running backup-db.ts (the tsx wrapper's child), via a Linux-specific wrapper. */
function backupRss(cluster: Cluster, stateDir: string, extra: string[]): Timed {
  // tsx starts node in a child process; GNU time reports the largest child's peak (RUSAGE_CHILDREN max).
  return timed(TSX, [join(REPO, 'scripts', 'backup-db.ts'), ...clusterFlags(cluster, stateDir, 'bench'), ...extra], cluster.scriptEnv);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'healthmate-bench-backup-'));
  chmodSync(root, 0o755);
  let cluster: Cluster | undefined;
  try {
    cluster = await startCluster(join(root, 'pg'), 'max_wal_size = 2GB\ncheckpoint_timeout = 30min');
    const c = cluster;
    const pgEnv = { PGHOST: c.socketDir, PGPORT: String(c.port), PGUSER: c.user };
    // The baselines connect as the scripts do (TCP to BACKUP_DB_HOST, scram password from a
    // 0600 passfile), so a ratio measures the script, not the socket: over the Unix socket the
    // same pg_restore was 7 % faster at scale 10.
    const passfile = join(root, 'pgpass');
    writeFileSync(passfile, `*:*:*:${c.user}:${c.password}\n`, { mode: 0o600 });
    const baselineEnv = { PGHOST: '127.0.0.1', PGPORT: String(c.port), PGUSER: c.user, PGPASSFILE: passfile };
    const load = async (scale: number) => {
      c.sql('DROP DATABASE IF EXISTS bench');
      c.sql('CREATE DATABASE bench');
      const start = process.hrtime.bigint();
      await loadRealisticData(PG_BIN, pgEnv, 'bench', scale);
      // Settle the fresh tables first, so autovacuum does not run during the timings.
      c.sql('VACUUM ANALYZE', 'bench');
      c.sql('CHECKPOINT');
      const size = Number(c.sql("SELECT pg_database_size('bench')"));
      console.log(`dataset scale ${scale}: loaded in ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s, database ${(size / 1e6).toFixed(0)} MB`);
      return size;
    };
    const keys = join(root, 'identity.txt');
    spawnSync('age-keygen', ['-o', keys]);
    const recipients = join(root, 'recipients.txt');
    writeFileSync(recipients, spawnSync('age-keygen', ['-y', keys], { encoding: 'utf8' }).stdout);

    // Peak RSS at a small size first, to show it does not grow with the database.
    await load(SMALL);
    const smallRss = backupRss(c, join(root, 'state-small'), ['--set', `BACKUP_AGE_RECIPIENTS_FILE=${recipients}`]);

    const dbSize = await load(SCALE);
    const raw: number[] = [];
    const rawVerified: number[] = [];
    const plain: number[] = [];
    const enc: number[] = [];
    let rawSize = 0;
    let rss = 0;
    // Rotate the order each round so background work (autovacuum, cache warm-up) hits every variant alike.
    const variants: (() => void)[] = [
      () => {
        const out = join(root, 'raw.dump');
        raw.push(timed(`${PG_BIN}/pg_dump`, ['-Fc', '-Z1', '-f', out, 'bench'], baselineEnv).seconds);
        rawSize = statSync(out).size;
        rmSync(out);
      },
      () => {
        // The shell equivalent of what backup-db.ts does in one stream (without its checks): dump, keep,
        // sha256 (the manifest's), full read, fsync.
        const out = join(root, 'raw-verified.dump');
        rawVerified.push(
          timed(
            'bash',
            [
              '-c',
              'set -o pipefail; "$0" -Fc -Z1 bench | tee "$1" >(sha256sum > "$1.sha256") | "$2" -f /dev/null && sync "$1"',
              `${PG_BIN}/pg_dump`,
              out,
              `${PG_BIN}/pg_restore`,
            ],
            baselineEnv,
          ).seconds,
        );
        rmSync(`${out}.sha256`, { force: true });
        rmSync(out);
      },
      () => {
        rmSync(join(root, 'state-plain'), { recursive: true, force: true });
        const p = backupRss(c, join(root, 'state-plain'), []);
        plain.push(p.seconds);
        rss = Math.max(rss, p.maxRssKb);
      },
      () => {
        rmSync(join(root, 'state-enc'), { recursive: true, force: true });
        const e = backupRss(c, join(root, 'state-enc'), ['--set', `BACKUP_AGE_RECIPIENTS_FILE=${recipients}`]);
        enc.push(e.seconds);
        rss = Math.max(rss, e.maxRssKb);
      },
    ];
    for (let i = 0; i < RUNS; i++)
      for (let j = 0; j < variants.length; j++) {
        // Raw pg_dump leaves its dump's pages dirty; written back inside the next timing, they would be charged to it.
        spawnSync('sync');
        (variants[(i + j) % variants.length] as () => void)();
      }
    const artifact = newest(join(root, 'state-plain', 'backups'), '.dump');
    const artifactSha = (JSON.parse(readFileSync(`${artifact}.json`, 'utf8')) as { sha256: string }).sha256;
    const encArtifact = newest(join(root, 'state-enc', 'backups'), '.dump.age');

    // Encryption alone, on the same dump: the age binary (what backup-db uses when installed) vs the TypeScript library.
    const recipient = readFileSync(recipients, 'utf8').trim();
    const ageBinary = median(Array.from({ length: RUNS }, () => timed('age', ['-R', recipients, '-o', join(root, 'bin.age'), artifact]).seconds));
    const ageLibrary: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = process.hrtime.bigint();
      const encryption = await encryptWithLibrary(createReadStream(artifact), [recipient]);
      await pipeline(encryption.output, createWriteStream(join(root, 'lib.age')));
      ageLibrary.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    rmSync(join(root, 'bin.age'));
    rmSync(join(root, 'lib.age'));

    const rawRestore: number[] = [];
    const checkedRestore: number[] = [];
    const scriptRestore: number[] = [];
    const restoreVariants: ((i: number) => void)[] = [
      (i) => {
        // restore-db.ts creates its target database, so the raw baseline does too.
        rawRestore.push(
          timed('sh', ['-c', '"$0" "$1" && "$2" -j2 -d "$1" "$3"', `${PG_BIN}/createdb`, `raw_restore_${i}`, `${PG_BIN}/pg_restore`, artifact], baselineEnv)
            .seconds,
        );
      },
      (i) => {
        // What an operator would type to get restore-db's guarantee by hand: the manifest's sha256 first, then the restore.
        checkedRestore.push(
          timed(
            'sh',
            [
              '-c',
              'echo "$4  $3" | sha256sum -c --quiet && "$0" "$1" && "$2" -j2 -d "$1" "$3"',
              `${PG_BIN}/createdb`,
              `checked_restore_${i}`,
              `${PG_BIN}/pg_restore`,
              artifact,
              artifactSha,
            ],
            baselineEnv,
          ).seconds,
        );
      },
      (i) => {
        scriptRestore.push(
          timed(
            TSX,
            [
              join(REPO, 'scripts', 'restore-db.ts'),
              ...clusterFlags(c, join(root, 'state-plain'), 'bench'),
              '--file',
              artifact,
              '--target-db',
              `script_restore_${i}`,
              '--jobs',
              '2',
            ],
            c.scriptEnv,
          ).seconds,
        );
      },
    ];
    // A restored gigabyte wakes autovacuum (insert threshold), which would then run inside the next
    // variant's timing; no variant needs it here.
    c.sql('ALTER SYSTEM SET autovacuum = off');
    c.sql('SELECT pg_reload_conf()');
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, and write the previous restore's gigabyte of dirty pages out before each
      // timing: the next restore otherwise pays for it. The cluster runs with fsync = off, so CHECKPOINT
      // only hands the pages to the kernel, and sync writes them.
      for (let j = 0; j < restoreVariants.length; j++) {
        c.sql('CHECKPOINT');
        spawnSync('sync');
        (restoreVariants[(i + j) % restoreVariants.length] as (i: number) => void)(i);
      }
      c.sql(`DROP DATABASE raw_restore_${i}`);
      c.sql(`DROP DATABASE checked_restore_${i}`);
      c.sql(`DROP DATABASE script_restore_${i}`);
    }

    // Fixed cost of any script run (tsx compiling, node starting), measured the same way.
    const startup = median(Array.from({ length: RUNS }, () => timed(TSX, [join(REPO, 'scripts', 'backup-db.ts'), '--help']).seconds));

    const sqlFile = join(root, 'plain.sql');
    const spec = timed(`${PG_BIN}/pg_dump`, ['bench'], baselineEnv, sqlFile);
    const sqlSize = statSync(sqlFile).size;
    rmSync(sqlFile);

    const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
    console.log(`\nscale ${SCALE} (${mb(dbSize)}), median of ${RUNS} runs, ${new Date().toISOString().slice(0, 10)}:`);
    console.log(`raw pg_dump -Fc -Z1          ${median(raw).toFixed(1)} s  ${mb(rawSize)}`);
    console.log(`raw dump | tee | pg_restore    ${median(rawVerified).toFixed(1)} s  (dump, sha256sum, full read, fsync: the verified baseline)`);
    console.log(
      `backup-db.ts (plain)         ${median(plain).toFixed(1)} s  ${mb(statSync(artifact).size)}  ratio ${(median(plain) / median(raw)).toFixed(2)} (goal <= 1.10)`,
    );
    console.log(
      `backup-db.ts (age)           ${median(enc).toFixed(1)} s  ${mb(statSync(encArtifact).size)}  ratio ${(median(enc) / median(raw)).toFixed(2)} (goal <= 1.20)`,
    );
    console.log(`createdb + pg_restore -j2    ${median(rawRestore).toFixed(1)} s`);
    console.log(`sha256sum -c, then the same  ${median(checkedRestore).toFixed(1)} s  (the checked shell baseline)`);
    console.log(
      `restore-db.ts --jobs 2       ${median(scriptRestore).toFixed(1)} s  ratio ${(median(scriptRestore) / median(rawRestore)).toFixed(2)} (goal <= 1.05), ${(median(scriptRestore) / median(checkedRestore)).toFixed(2)} of the checked baseline`,
    );
    console.log(`script start-up (--help)     ${startup.toFixed(1)} s  (part of every script time above)`);
    console.log(
      `backup-db.ts vs the verified shell baseline: plain ${(median(plain) / median(rawVerified)).toFixed(2)} (goal <= 1.05), age ${(median(enc) / median(rawVerified)).toFixed(2)}`,
    );
    console.log(
      `streaming overhead without start-up: backup plain ${((median(plain) - startup) / median(raw)).toFixed(2)}, age ${((median(enc) - startup) / median(raw)).toFixed(2)}, restore ${((median(scriptRestore) - startup) / median(rawRestore)).toFixed(2)}`,
    );
    // A round's variants run back to back, so their difference cancels the slow drifts
    // (writeback, autovacuum) that move whole rounds: the script's own cost, round by round.
    const paired = (script: number[], baseline: number[]) => {
      const diffs = script.map((s, i) => s - (baseline[i] as number));
      const sign = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;
      return `${sign(diffs.reduce((a, b) => a + b, 0) / diffs.length)} s (rounds ${diffs.map(sign).join(', ')})`;
    };
    console.log(`script - baseline within a round: backup plain ${paired(plain, raw)}, restore ${paired(scriptRestore, rawRestore)}`);
    console.log(`spec: pg_dump > file.sql     ${spec.seconds.toFixed(1)} s  ${mb(sqlSize)} (plain SQL, unverified, unencrypted)`);
    console.log(
      `backup-db.ts peak RSS        ${(smallRss.maxRssKb / 1024).toFixed(0)} MB at scale ${SMALL}, ${(rss / 1024).toFixed(0)} MB at scale ${SCALE} (goal: within 10 MB, <= 150 MB)`,
    );
    console.log(
      `age on the ${mb(statSync(artifact).size)} dump: Debian age ${ageBinary.toFixed(2)} s, TypeScript library ${median(ageLibrary).toFixed(2)} s (backup-db uses the binary when installed)`,
    );
  } finally {
    cluster?.stop('immediate');
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
