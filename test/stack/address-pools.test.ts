import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { addressPools, releasePools } from '../e2e/harness/dockerd.js';
import { tempDir } from '../helpers/tmp.js';

describe('private daemons draw distinct address pools', () => {
  /** The claims of this file's draws: its own folder, so draining every slice never starves another suite's daemons. */
  let claims = '';
  beforeEach(() => {
    claims = tempDir();
  });
  /** The file claiming a pool's slice, as addressPools writes it. */
  const claimFile = (pool: string): string => join(claims, String(Number(pool.split('.')[2]) / 16));
  const draw = (count: number) => addressPools(count, claims);
  const release = (pools: string[]) => releasePools(pools, claims);

  it('two draws before either daemon has a route get different slices; a released slice is free again', () => {
    const [first] = draw(1) as [string];
    const [second] = draw(1) as [string];
    try {
      expect(first).toMatch(/^198\.18\.\d+\.0\/20$/);
      expect(second).not.toBe(first);
      expect(readFileSync(claimFile(first), 'utf8')).toBe(String(process.pid));
    } finally {
      release([first, second]);
    }
    expect(() => readFileSync(claimFile(first))).toThrow();
  });

  it("a live process's claim is respected; a dead process's claim is taken over", async () => {
    const [held, stale] = draw(2) as [string, string];
    release([held, stale]);
    const holder = spawn('sleep', ['600']);
    const dead = spawn('true');
    await new Promise((resolve) => dead.on('exit', resolve));
    const drawn: string[] = [];
    try {
      writeFileSync(claimFile(held), String(holder.pid), { flag: 'wx' });
      writeFileSync(claimFile(stale), String(dead.pid), { flag: 'wx' });
      // Every free slice, until none is left (there are 16).
      expect(() => {
        for (let i = 0; i <= 16; i++) drawn.push(...draw(1));
      }).toThrow(/no free \/20 of 198\.18\.0\.0\/16/);
      expect(drawn).not.toContain(held);
      expect(drawn).toContain(stale);
    } finally {
      release(drawn);
      holder.kill('SIGKILL');
      rmSync(claimFile(held), { force: true });
    }
  });
});
