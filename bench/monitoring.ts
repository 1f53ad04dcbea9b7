/**
 * Monitoring benchmark (npm run bench:monitoring), ratios measured in one run:
 * - promtool unit tests over hours and days evaluated every 15 minutes versus
 *   every minute (the choice made in monitoring/tests/long_horizon_test.yml);
 * - the static lint (rules and dashboards, PromQL parsed with Lezer) versus
 *   `promtool check rules` on the same rule files.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintMonitoring } from '../scripts/lib/monitoring/lint.js';
import { ruleFilesIn } from '../scripts/lib/monitoring/validate.js';
import { REPO } from '../test/helpers/run.js';
import { needTool } from '../test/helpers/tools.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function timeMs(fn: () => void): number {
  const runs: number[] = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const start = performance.now();
    fn();
    runs.push(performance.now() - start);
  }
  return median(runs);
}

function promtool(args: string[], cwd: string): void {
  const result = spawnSync(needTool('promtool'), args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`promtool ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

const work = mkdtempSync(join(tmpdir(), 'healthmate-bench-monitoring-'));
try {
  cpSync(join(REPO, 'monitoring'), join(work, 'monitoring'), { recursive: true });
  const tests = join(work, 'monitoring', 'tests');
  const longHorizon = readFileSync(join(tests, 'long_horizon_test.yml'), 'utf8');
  writeFileSync(join(tests, 'every_minute_test.yml'), longHorizon.replace(/^evaluation_interval: .*$/m, "evaluation_interval: '1m'"));

  const coarse = timeMs(() => promtool(['test', 'rules', 'long_horizon_test.yml'], tests));
  const fine = timeMs(() => promtool(['test', 'rules', 'every_minute_test.yml'], tests));
  const rules = ruleFilesIn(join(REPO, 'monitoring'));
  const check = timeMs(() => promtool(['check', 'rules', ...rules], REPO));
  const lint = timeMs(() => {
    const problems = lintMonitoring(join(REPO, 'monitoring'), join(REPO, 'docs', 'runbooks.md'));
    if (problems.length > 0) throw new Error(`lint found problems: ${JSON.stringify(problems)}`);
  });

  console.log(`median of ${ROUNDS} rounds`);
  console.log(
    `promtool test rules, long-horizon file: every 15m ${coarse.toFixed(0)} ms, every 1m ${fine.toFixed(0)} ms -> 1m/15m = ${(fine / coarse).toFixed(1)}x`,
  );
  console.log(`promtool check rules ${check.toFixed(0)} ms, rule+dashboard lint ${lint.toFixed(0)} ms -> lint/check = ${(lint / check).toFixed(2)}x`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
