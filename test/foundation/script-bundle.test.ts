import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { nodeWithTsx, REPO, runScript, SCRIPT_BUNDLE_ENV } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import LongestFirst from '../sequencer.js';

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
  it('starts files longest first from test/durations.json, a file not in it before all', async () => {
    const durations = JSON.parse(readFileSync(join(REPO, 'test', 'durations.json'), 'utf8')) as Record<string, number>;
    const [longest, , middle] = Object.keys(durations);
    const shortest = Object.keys(durations).at(-1) as string;
    const spec = (file: string) =>
      ({ moduleId: join(REPO, file), project: { name: 'unit', config: { sequence: { groupOrder: 0 }, isolate: true } } }) as unknown as TestSpecification;
    const ctx = { config: { root: REPO }, cache: { getFileTestResults: () => undefined, getFileStats: () => undefined } } as unknown as Vitest;
    const sorted = await new LongestFirst(ctx).sort([shortest, 'test/new.test.ts', middle, longest].map((f) => spec(f as string)));
    expect(sorted.map((s) => relative(REPO, s.moduleId))).toEqual(['test/new.test.ts', longest, middle, shortest]);
  });
});
