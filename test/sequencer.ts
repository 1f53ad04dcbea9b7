import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Each unit file measured alone on a quiet box; `npm run test:durations` measures them again. */
export const DURATIONS_FILE = join(import.meta.dirname, 'durations.json');

/** One file run alone: its seconds, and the cores the box was busy with meanwhile (CPU seconds / seconds). */
export interface FileCost {
  seconds: number;
  cores: number;
}

/** How far a file's cores may exceed what the running files leave free: a little sharing costs less than an idle core. */
const OVERLAP = 0.25;
/** How many of the free cores a file may leave unused and still count as filling them. */
const SLACK = 0.5;

/**
 * The order files start in: what two workers on two cores would run, simulated from the costs.
 * The first file is the longest. Then, whenever a worker is free, it takes the longest file that
 * fills the cores the running files leave free, so a file that mostly waits (a Patroni failover,
 * rclone's idle timeout) runs beside one that computes, not beside another waiting one; failing
 * that the longest that fits beside them, failing that the lightest. A file not in the table
 * comes first, as vitest runs files it has never timed.
 */
export function packedOrder(files: string[], costs: Record<string, FileCost>, workers: number, cores: number): string[] {
  const known = (f: string): boolean => {
    const cost = costs[f];
    return cost !== undefined && Number.isFinite(cost.seconds) && Number.isFinite(cost.cores) && cost.seconds >= 0 && cost.cores >= 0;
  };
  const unknown = files.filter((f) => !known(f));
  const left = files.filter(known).sort((a, b) => (costs[b] as FileCost).seconds - (costs[a] as FileCost).seconds || a.localeCompare(b));
  const demand = (f: string): number => Math.min((costs[f] as FileCost).cores, cores);
  const order = [...unknown];
  const running = new Map<string, number>();
  while (left.length > 0) {
    while (running.size < workers && left.length > 0) {
      const spare = cores - [...running.keys()].reduce((sum, f) => sum + demand(f), 0);
      const fills = left.findIndex((f) => demand(f) >= spare - SLACK && demand(f) <= spare + OVERLAP);
      const fits = left.findIndex((f) => demand(f) <= spare + OVERLAP);
      const lightest = left.reduce((best, f, i) => (demand(f) < demand(left[best] as string) ? i : best), 0);
      const pick = running.size === 0 ? 0 : fills >= 0 ? fills : fits >= 0 ? fits : lightest;
      const [next] = left.splice(pick, 1) as [string];
      order.push(next);
      running.set(next, (costs[next] as FileCost).seconds);
    }
    // On to the next file's end: the running files share the cores alike, so the shortest remaining ends first.
    const step = Math.min(...running.values());
    for (const [f, remaining] of running) {
      if (remaining - step <= 1e-9) running.delete(f);
      else running.set(f, remaining - step);
    }
  }
  return order;
}

export function readCosts(): Record<string, FileCost> {
  return existsSync(DURATIONS_FILE) ? (JSON.parse(readFileSync(DURATIONS_FILE, 'utf8')) as Record<string, FileCost>) : {};
}

/**
 * Starts files in packedOrder from the checked-in test/durations.json, not from vitest's cache
 * under node_modules, so a clean clone (CI, a newcomer) packs its run as well as a warm checkout.
 */
export default class PackedOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const byName = new Map((await super.sort(files)).map((spec) => [relative(root, spec.moduleId), spec] as const));
    const workers = this.ctx.config.maxWorkers ?? availableParallelism();
    return packedOrder([...byName.keys()], readCosts(), workers, availableParallelism()).map((name) => byName.get(name) as TestSpecification);
  }
}
