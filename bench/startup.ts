/**
 * Start-up benchmark (not a timed test): for every script, `--help` against
 * tsx on an empty module, and a real command's fixed cost — from launch until
 * the script starts its first tool (or exits, when it runs none) — measured by
 * a preloaded probe (bench/startup/first-spawn.mjs). Medians of --runs. The
 * real command runs twice per round: with HEALTHMATE_CHECK_CACHE=off (cold:
 * every check runs, as on a first deploy of new values) and with the bench's
 * own cache after one untimed run (remembered: the same values rendered again).
 * Usage: npm run bench:startup [-- --runs 5] [--only render.ts,check.ts]
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { addCleanup } from '../scripts/lib/cleanup.js';
import { REPO } from '../test/helpers/run.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, only: { type: 'string' } } });
const RUNS = Number(values.runs);
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const PROBE = join(REPO, 'bench', 'startup', 'first-spawn.mjs');
const work = mkdtempSync(join(tmpdir(), 'healthmate-bench-startup-'));
// Removed on Ctrl-C and SIGTERM too (a signal skips `finally`).
const removeWork = addCleanup(() => rmSync(work, { recursive: true, force: true }));

/** A real command per script that changes nothing: a dry run, a listing or a report. */
const REAL: Record<string, string[]> = {
  'backup-config.ts': ['--env', 'dev', '--dry-run'],
  'backup-db.ts': ['--env', 'dev', '--dry-run'],
  'check-certs.ts': ['--env', 'dev', '--dry-run'],
  'check.ts': ['--env', 'prod', '--env-file', '.env.example'],
  'deploy-dev.ts': ['--dry-run'],
  'deploy-k8s.ts': ['--env', 'prod', '--env-file', '.env.example', '--context', 'bench', '--dry-run'],
  'deploy-prod.ts': ['--env-file', '.env.example', '--dry-run'],
  'env-example.ts': ['--dry-run'],
  'docs-k8s-policy.ts': ['--dry-run'],
  'generate-certs.ts': ['--env', 'dev', '--dry-run'],
  'init-env.ts': ['--env', 'prod', '--dry-run'],
  'maintenance.ts': ['--env', 'dev', '--for', '30m', '--reason', 'bench', '--dry-run'],
  'rebuild-db-host.ts': ['--env', 'prod', '--env-file', '.env.example', '--latest', '--dry-run'],
  'reload-prometheus.ts': ['--env', 'dev', '--dry-run'],
  'render.ts': ['--env', 'prod', '--env-file', '.env.example', '--dry-run'],
  'restore-db.ts': ['--env', 'dev', '--list'],
  'restore-pitr.ts': ['--env', 'prod', '--env-file', '.env.example', '--latest', '--volume', 'bench-pitr', '--dry-run'],
  'setup-monitoring.ts': ['--environment', 'development', '--dry-run'],
  'verify-pitr.ts': ['--env', 'prod', '--env-file', '.env.example', '--dry-run'],
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Seconds from launch to the first tool the script starts, or to its exit. */
function fixedCost(args: string[], cache: string): number {
  const marker = join(work, 'first-spawn');
  writeFileSync(marker, '');
  const start = performance.timeOrigin + performance.now();
  spawnSync(TSX, args, {
    cwd: REPO,
    stdio: 'ignore',
    env: {
      ...process.env,
      NODE_OPTIONS: `--import=${PROBE}`,
      HEALTHMATE_FIRST_SPAWN_FILE: marker,
      HEALTHMATE_CHECK_CACHE: cache,
      STATE_DIR: join(work, 'state'),
      NO_COLOR: '1',
    },
  });
  const end = performance.timeOrigin + performance.now();
  const first = readFileSync(marker, 'utf8').split(' ')[0];
  return ((first ? Number(first) : end) - start) / 1000;
}

function wall(args: string[]): number {
  const start = process.hrtime.bigint();
  spawnSync(TSX, args, { cwd: REPO, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

try {
  const unlisted = readdirSync(join(REPO, 'scripts')).filter((name) => name.endsWith('.ts') && !(name in REAL));
  if (unlisted.length > 0) throw new Error(`bench/startup.ts has no real command for ${unlisted.join(', ')}: add one to REAL`);
  const scripts = Object.keys(REAL)
    .filter((name) => !values.only || values.only.split(',').includes(name))
    .sort();
  const baselineRuns: number[] = [];
  const help: Record<string, number[]> = {};
  const cold: Record<string, number[]> = {};
  const remembered: Record<string, number[]> = {};
  const cache = join(work, 'passes');
  const command = (script: string) => [join(REPO, 'scripts', script), ...(REAL[script] as string[])];
  // The pgBackRest commands name the deployed stack's compose files (and refuse without them): a prod release to find.
  spawnSync(TSX, [join(REPO, 'scripts', 'render.ts'), '--env', 'prod', '--env-file', '.env.example', '--out', join(work, 'render')], {
    cwd: REPO,
    stdio: 'ignore',
    env: { ...process.env, STATE_DIR: join(work, 'state') },
  });
  cpSync(join(work, 'render', 'prod'), join(work, 'state', 'deploy', 'current'), { recursive: true });
  for (const script of scripts) fixedCost(command(script), cache);
  // Interleave the baseline with the scripts, so load on the machine hits every figure alike.
  for (let i = 0; i < RUNS; i++) {
    for (const script of scripts) {
      baselineRuns.push(wall([join(REPO, 'bench', 'startup', 'empty.ts')]));
      help[script] = [...(help[script] ?? []), wall([join(REPO, 'scripts', script), '--help'])];
      cold[script] = [...(cold[script] ?? []), fixedCost(command(script), 'off')];
      remembered[script] = [...(remembered[script] ?? []), fixedCost(command(script), cache)];
    }
  }
  const baseline = median(baselineRuns);
  console.log(`tsx on an empty module: ${baseline.toFixed(2)} s (median of ${baselineRuns.length}), ${new Date().toISOString().slice(0, 10)}`);
  console.log(
    `${'script'.padEnd(22)} ${'--help'.padStart(8)} ${'ratio'.padStart(6)}  goal <= 1.30   ${'real, cold'.padStart(10)} ${'+ s'.padStart(6)}        ${'remembered'.padStart(10)} ${'+ s'.padStart(6)}  goal <= +0.30 s`,
  );
  let met = 0;
  let metCold = 0;
  const verdict = (ok: boolean) => (ok ? 'met ' : 'MISS');
  for (const script of scripts) {
    const h = median(help[script] as number[]);
    const c = median(cold[script] as number[]);
    const r = median(remembered[script] as number[]);
    if (h / baseline <= 1.3 && r - baseline <= 0.3) met++;
    if (h / baseline <= 1.3 && c - baseline <= 0.3) metCold++;
    console.log(
      `${script.padEnd(22)} ${h.toFixed(2).padStart(8)} ${(h / baseline).toFixed(2).padStart(6)}  ${verdict(h / baseline <= 1.3)}          ${c.toFixed(2).padStart(10)} ${`+${(c - baseline).toFixed(2)}`.padStart(6)}  ${verdict(c - baseline <= 0.3)}  ${r.toFixed(2).padStart(10)} ${`+${(r - baseline).toFixed(2)}`.padStart(6)}  ${verdict(r - baseline <= 0.3)}`,
    );
  }
  console.log(
    `${met}/${scripts.length} scripts meet both goals with the checks' passes remembered, ${metCold}/${scripts.length} cold (HEALTHMATE_CHECK_CACHE=off); real command = ${'`'}scripts/<name> <the arguments in bench/startup.ts>${'`'} until its first tool starts`,
  );
} finally {
  removeWork();
  rmSync(work, { recursive: true, force: true });
}
