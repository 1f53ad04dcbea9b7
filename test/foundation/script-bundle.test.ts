import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { nodeWithTsx, REPO, runScript, SCRIPT_BUNDLE_ENV } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import PackedOrder, { packedOrder } from '../sequencer.js';

/** Every file under `dir` with a hash of its content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  return out;
}

describe('the unit run executes scripts/ from an esbuild bundle (test/script-bundle.ts)', () => {
  it('holds the scripts, but not one that hands its node options (tsx) to another script', () => {
    const bundle = process.env[SCRIPT_BUNDLE_ENV] as string;
    expect(bundle).toBeTruthy();
    expect(existsSync(join(bundle, 'render.mjs'))).toBe(true);
    expect(existsSync(join(bundle, 'deploy-prod.mjs'))).toBe(false);
  });

  it('a bundled render writes byte for byte what the TypeScript through tsx writes', () => {
    const dir = tempDir();
    const args = (out: string) => ['--env', 'dev', '--out', join(dir, out), '--set', `STATE_DIR=${join(dir, 'state')}`];
    const bundled = runScript('render.ts', args('bundled'), { cwd: dir });
    expect(bundled.code, bundled.stderr).toBe(0);
    const [node, ...argv] = nodeWithTsx(join(REPO, 'scripts', 'render.ts'), ...args('tsx'));
    const viaTsx = spawnSync(node, argv, { cwd: dir, encoding: 'utf8' });
    expect(viaTsx.status, viaTsx.stderr).toBe(0);
    const files = tree(join(dir, 'bundled'));
    expect(Object.keys(files).length).toBeGreaterThan(50);
    expect(files).toEqual(tree(join(dir, 'tsx')));
  });
});

describe('test/sequencer.ts', () => {
  // Two workers on two cores; each file's seconds alone and the cores it keeps busy.
  const costs = {
    'wait-long': { seconds: 60, cores: 0.3 },
    'cpu-long': { seconds: 40, cores: 1 },
    'wait-short': { seconds: 35, cores: 0.2 },
    'multi-core': { seconds: 30, cores: 1.6 },
    'cpu-short': { seconds: 10, cores: 1 },
  };

  it('pairs a file that waits with one that computes, and puts a file it has no figures for first', () => {
    // By hand: wait-long (the longest) starts with multi-core, which fills the 1.7 cores it leaves;
    // at 30 s cpu-long fits the 1.7 (nothing fills them); at 60 s cpu-short fills the 1 core beside
    // cpu-long; wait-short, which fills nothing, goes last.
    expect(packedOrder(['cpu-short', 'new', 'wait-short', 'multi-core', 'cpu-long', 'wait-long'], costs, 2, 2)).toEqual([
      'new',
      'wait-long',
      'multi-core',
      'cpu-long',
      'cpu-short',
      'wait-short',
    ]);
    // An entry without numbers counts as unknown (first), rather than stalling the simulation.
    expect(packedOrder(['cpu-long', 'broken'], { ...costs, broken: { seconds: Number.NaN, cores: 1 } }, 2, 2)).toEqual(['broken', 'cpu-long']);
    // Files of one core each: longest first, one per worker.
    expect(packedOrder(['cpu-short', 'cpu-long'], costs, 2, 2)).toEqual(['cpu-long', 'cpu-short']);
  });

  it("orders vitest's files by the checked-in test/durations.json", async () => {
    const durations = JSON.parse(readFileSync(join(REPO, 'test', 'durations.json'), 'utf8')) as Record<string, { seconds: number; cores: number }>;
    const files = Object.keys(durations);
    expect(files.length).toBeGreaterThan(50);
    const spec = (file: string) =>
      ({ moduleId: join(REPO, file), project: { name: 'unit', config: { sequence: { groupOrder: 0 }, isolate: true } } }) as unknown as TestSpecification;
    const ctx = { config: { root: REPO, maxWorkers: 2 }, cache: { getFileTestResults: () => undefined, getFileStats: () => undefined } } as unknown as Vitest;
    const sorted = await new PackedOrder(ctx).sort([...files].reverse().map(spec));
    expect(sorted.map((s) => relative(REPO, s.moduleId))).toEqual(packedOrder(files, durations, 2, availableParallelism()));
  });
});
