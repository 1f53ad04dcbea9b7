import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { swapDirectory } from '../../scripts/lib/render/bundle.js';
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
