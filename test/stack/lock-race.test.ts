import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { type Racer, race, startRacer } from './lock-racer.js';

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('the shared lock (deploy and backups)', () => {
  it('three real processes racing 100 rounds: exactly one winner each round, also when a dead owner is taken over', async () => {
    const dir = tempDir();
    const lock = join(dir, 'race.lock');
    const racers: Racer[] = [startRacer(lock), startRacer(lock), startRacer(lock)];
    try {
      const stale = () => JSON.stringify({ pid: deadPid(), host: hostname(), user: 'x', startedAt: 'then', purpose: 'race' });
      const result = await race(racers, lock, 100, 3, stale);
      expect(result.winners).toEqual(Array(100).fill(1));
      // Every stale round was won by taking the dead owner's lock over.
      expect(result.recovered).toBe(result.staleRounds);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      for (const r of racers) r.child.kill('SIGKILL');
    }
  });
});
