/**
 * Runs each unit file alone and writes its seconds and the cores the box was busy with meanwhile
 * to test/durations.json, the costs test/sequencer.ts orders files by. Run it on a quiet box (the
 * cores are the whole machine's, from /proc/stat) after adding or reshaping a slow test file:
 * `npm run test:durations` (about 12 minutes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DURATIONS_FILE, type FileCost } from './sequencer.js';

interface JsonReport {
  testResults: { name: string; startTime: number; endTime: number }[];
}

/** Seconds the whole machine has been busy (every CPU, all but idle and iowait). */
function busySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

const root = join(import.meta.dirname, '..');
const files = readdirSync(join(root, 'test'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts') && !f.startsWith('e2e/'))
  .map((f) => join('test', f))
  .sort();
const dir = mkdtempSync(join(tmpdir(), 'healthmate-durations-'));
const costs: Record<string, FileCost> = {};
try {
  for (const [index, file] of files.entries()) {
    const report = join(dir, 'report.json');
    const busy = busySeconds();
    const started = performance.now();
    const run = spawnSync('npx', ['vitest', 'run', '--project', 'unit', '--reporter=json', `--outputFile.json=${report}`, file], {
      cwd: root,
      encoding: 'utf8',
    });
    const wall = (performance.now() - started) / 1000;
    if (run.status !== 0) throw new Error(`${file} failed, so test/durations.json is left as it was: fix it first.\n${run.stdout}${run.stderr}`);
    const result = (JSON.parse(readFileSync(report, 'utf8')) as JsonReport).testResults.find((r) => relative(root, r.name) === file);
    if (!result) throw new Error(`vitest reported no result for ${file}`);
    costs[file] = { seconds: Math.round((result.endTime - result.startTime) / 100) / 10, cores: Math.round(((busySeconds() - busy) / wall) * 100) / 100 };
    console.log(`[${index + 1}/${files.length}] ${file}: ${costs[file].seconds} s, ${costs[file].cores} cores`);
  }
  const sorted = Object.fromEntries(Object.entries(costs).sort(([, a], [, b]) => b.seconds - a.seconds));
  writeFileSync(DURATIONS_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
  console.log(`test:durations: ${files.length} files written to ${relative(root, DURATIONS_FILE)}`);
} catch (error) {
  console.error(`test:durations: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
