import { describe, expect, it } from 'vitest';
import { type ContainerState, datastoreProblem } from '../../scripts/lib/containers.js';

// A deploy that fails while PostgreSQL or Redis is gone must say so (e2e chaos scenario 1 kills
// PostgreSQL mid-rollout): the new replicas were not the problem, and the old ones cannot serve either.
const state = (status: string, health: string, exitCode = 0): ContainerState => ({
  id: 'c0ffee',
  name: 'healthmate_postgres_1',
  image: 'postgres:15',
  status,
  health,
  exitCode,
  restartCount: 0,
  startedAt: '2026-01-01T00:00:00Z',
});

describe('datastoreProblem: why a datastore cannot serve, in one sentence', () => {
  it.each([
    ['running and healthy', [state('running', 'healthy')], undefined],
    ['running without a healthcheck', [state('running', 'none')], undefined],
    [
      'killed (docker kill): nothing restarts it',
      [state('exited', 'unhealthy', 137)],
      /^postgres is exited \(exit code 137\) and nothing restarts it; start it with `docker start c0ffee`/,
    ],
    [
      'crashed, restart policy at work',
      [state('restarting', 'none', 1)],
      /^postgres is restarting after exiting with code 1 \(Docker's restart policy brings it back\)\.$/,
    ],
    ['running but failing its healthcheck', [state('running', 'unhealthy')], /^postgres is running but unhealthy\.$/],
    ['still starting', [state('running', 'starting')], /^postgres is running but starting\.$/],
    ['no container at all', [], /^postgres has no container\.$/],
    ['an old exited container beside a healthy one', [state('exited', 'none', 0), state('running', 'healthy')], undefined],
  ])('%s', (_name, states, expected) => {
    const problem = datastoreProblem('postgres', states);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});
