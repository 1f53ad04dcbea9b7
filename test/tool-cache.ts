import { join } from 'node:path';

/**
 * Vitest globalSetup (after leftovers.ts, which made the run's private TMPDIR):
 * the scripts the tests spawn share one cache of tool passes for the run
 * (`promtool test rules` on the same rules runs once, not in every check), and
 * it goes away with the TMPDIR, never into the user's ~/.cache.
 */
export default function setup(): () => void {
  const saved = process.env.HEALTHMATE_CHECK_CACHE;
  if (saved !== 'off') process.env.HEALTHMATE_CHECK_CACHE = join(process.env.TMPDIR ?? '/tmp', 'tool-passes');
  return () => {
    if (saved === undefined) delete process.env.HEALTHMATE_CHECK_CACHE;
    else process.env.HEALTHMATE_CHECK_CACHE = saved;
  };
}
