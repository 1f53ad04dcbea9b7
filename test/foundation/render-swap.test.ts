import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { swapDirectory } from '../../scripts/lib/render/bundle.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { alive, reaperOf } from '../helpers/procs.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

function folderWith(path: string, content: string): string {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'nginx.conf'), content);
  return path;
}

describe('render swaps the bundle in safely', () => {
  it('replaces the old bundle and leaves no side folder behind', () => {
    const root = tempDir();
    const finalDir = folderWith(join(root, 'prod'), 'old');
    const staging = folderWith(join(root, '.prod.staging-1'), 'new');
    swapDirectory(staging, finalDir);
    expect(readFileSync(join(finalDir, 'nginx.conf'), 'utf8')).toBe('new');
    expect(readdirSync(root)).toEqual(['prod']);
  });

  it('puts the old bundle back when the second rename fails (injected), and rethrows', () => {
    const root = tempDir();
    const finalDir = folderWith(join(root, 'prod'), 'old');
    const staging = folderWith(join(root, '.prod.staging-1'), 'new');
    let calls = 0;
    const failingSecond = (from: string, to: string): void => {
      calls += 1;
      if (calls === 2) throw Object.assign(new Error('EXDEV: injected failure'), { code: 'EXDEV' });
      renameSync(from, to);
    };
    expect(() => swapDirectory(staging, finalDir, failingSecond)).toThrow('injected failure');
    expect(readFileSync(join(finalDir, 'nginx.conf'), 'utf8')).toBe('old');
    // The staging folder is the caller's to remove (writeBundle does); nothing else is left.
    expect(readdirSync(root).sort()).toEqual(['.prod.staging-1', 'prod']);
  });

  it('a first render (no old bundle) that fails leaves no bundle and no side folder', () => {
    const root = tempDir();
    const staging = folderWith(join(root, '.prod.staging-1'), 'new');
    const failing = (): void => {
      throw new Error('injected failure');
    };
    expect(() => swapDirectory(staging, join(root, 'prod'), failing)).toThrow('injected failure');
    expect(existsSync(join(root, 'prod'))).toBe(false);
    expect(readdirSync(root)).toEqual(['.prod.staging-1']);
  });
});

describe('an interrupted render', () => {
  it('leaves no staging folder (with its secrets) beside the output after kill -9', async () => {
    const dir = tempDir();
    const out = join(dir, 'dist');
    const script = join(dir, 'render.mts');
    // Many small files: writeBundle (synchronous) is still writing when the kill comes.
    writeFileSync(
      script,
      [
        `import { writeBundle } from ${JSON.stringify(join(REPO, 'scripts', 'lib', 'render', 'bundle.ts'))};`,
        "const files = [{ path: 'secrets/secret_key', content: 'the-secret', mode: 0o600, secret: true }];",
        "for (let i = 0; i < 20000; i++) files.push({ path: 'big/' + (i % 100) + '/' + i + '.txt', content: 'x', mode: 0o644, secret: false });",
        `writeBundle({ env: { name: 'prod' }, files }, ${JSON.stringify(out)});`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: 'ignore' });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const staging = (): string[] => (existsSync(out) ? readdirSync(out).filter((name) => name.startsWith('.prod.staging-')) : []);
    await waitFor('the staging folder', () => staging().length > 0, WAIT_BUDGET_MS, 5);
    const reaper = reaperOf(child.pid as number);
    child.kill('SIGKILL');
    expect(reaper, 'the reaper runs beside the script').toBeDefined();
    await waitFor('the reaper to exit', () => !alive(reaper as number));
    // Killed before the swap: no bundle, and no half-written staging folder.
    expect(readdirSync(out)).toEqual([]);
  });
});
