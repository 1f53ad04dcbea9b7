import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Seconds each unit file took on a quiet box; `npm run test:durations` measures them again. */
export const DURATIONS_FILE = join(import.meta.dirname, 'durations.json');

/**
 * Longest files first, so the workers finish together instead of one long file starting last
 * and running alone. The order comes from the checked-in durations, not from vitest's cache
 * under node_modules, so a clean clone (CI, a newcomer) packs its run as well as a warm checkout.
 * A file not in the table yet runs first, as vitest runs files it has never timed.
 */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds: Record<string, number> = existsSync(DURATIONS_FILE) ? JSON.parse(readFileSync(DURATIONS_FILE, 'utf8')) : {};
    const root = this.ctx.config.root;
    const weight = (spec: TestSpecification): number => seconds[relative(root, spec.moduleId)] ?? Number.POSITIVE_INFINITY;
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a));
  }
}
