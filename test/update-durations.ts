/**
 * Runs the unit project once with vitest's JSON reporter and writes each file's seconds to
 * test/durations.json, the order test/sequencer.ts starts files in. Run it on a quiet box
 * after adding or reshaping a slow test file: `npm run test:durations`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DURATIONS_FILE } from './sequencer.js';

interface JsonReport {
  testResults: { name: string; startTime: number; endTime: number }[];
}

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'healthmate-durations-'));
try {
  const report = join(dir, 'report.json');
  const run = spawnSync('npx', ['vitest', 'run', '--project', 'unit', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
    cwd: root,
    stdio: 'inherit',
  });
  if (run.status !== 0) {
    console.error('test:durations: the unit run failed, so test/durations.json is left as it was: fix the failing tests first.');
    process.exitCode = 1;
  } else {
    const { testResults } = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
    const seconds = Object.fromEntries(
      testResults.map((r) => [relative(root, r.name), Math.round((r.endTime - r.startTime) / 100) / 10] as const).sort(([, a], [, b]) => b - a),
    );
    writeFileSync(DURATIONS_FILE, `${JSON.stringify(seconds, null, 2)}\n`);
    console.log(`test:durations: ${testResults.length} files written to ${relative(root, DURATIONS_FILE)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
