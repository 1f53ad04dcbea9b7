import { describe, it, type TestContext } from 'vitest';
import { inspectContainers, serviceContainers, waitHealthy, waitRunningHealthy, waitServicesHealthy } from '../../scripts/lib/containers.js';
import { docker, dockerProbe } from '../e2e/harness/docker.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { privateEngine } from './engine.js';

/**
 * waitHealthy / serviceContainers against a real engine: a private dockerd
 * (no ports, no networks: every container runs with --network none) and a
 * busybox image imported in a second.
 *
 * The tests run side by side (most of their time is waiting on containers):
 * each has its own compose project and container names, so none sees another's.
 */
const engine = privateEngine();

/**
 * Test `t`'s own compose project: `start` runs a container labelled like compose's, detached,
 * and removes it when the test ends (a crash looper stops churning beside the other tests).
 */
function composeProject(t: TestContext, project: string) {
  const start = (service: string, command: string, extra: string[] = []): string => {
    const labels = ['--label', `com.docker.compose.project=${project}`, '--label', `com.docker.compose.service=${service}`];
    const id = docker(engine.daemon, ['run', '-d', '--network', 'none', ...labels, ...extra, engine.image, 'sh', '-c', command]).trim();
    // A probe: the test may have removed it already.
    t.onTestFinished(() => {
      dockerProbe(engine.daemon, ['rm', '-f', id]);
    });
    return id;
  };
  return { project, start };
}

const healthcheck = (cmd: string): string[] => ['--health-cmd', cmd, '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '2s'];

describe.concurrent('waitHealthy and serviceContainers (real engine)', () => {
  it('lists a container that exited at once, and waiting for it fails naming service, container and exit code', async (t) => {
    const { expect } = t;
    const { project, start } = composeProject(t, 'hm-wait-exited');
    const id = start('postgres', 'exit 3', ['--name', 'hm-wait-exited-postgres-1']);
    docker(engine.daemon, ['wait', id]);
    expect(await serviceContainers(project, 'postgres')).toEqual([id]);
    await expect(waitServicesHealthy(project, ['postgres'], 30, 'postgres and redis')).rejects.toThrow(
      'postgres and redis: postgres container hm-wait-exited-postgres-1 is exited (exit code 3).',
    );
  });

  it('fails at once naming the service that has no container, instead of passing on an empty list', async (t) => {
    const { expect } = t;
    const { project, start } = composeProject(t, 'hm-wait-missing');
    start('postgres', 'sleep 600');
    await expect(waitServicesHealthy(project, ['postgres', 'redis'], 60, 'postgres and redis')).rejects.toThrow(
      `postgres and redis: no container of service redis in compose project ${project}.`,
    );
    await expect(waitHealthy([], 60, 'monitoring')).rejects.toThrow('monitoring: there is no container to wait for.');
  });

  // The message names the crash, not the 600 s budget: the wait gave up on the crash, not on the clock.
  it('fails on a crash-looping container (restarting, restarted or exited), naming it', async (t) => {
    const { expect } = t;
    const { start } = composeProject(t, 'hm-wait-crash');
    const id = start('redis', 'exit 4', ['--restart', 'always', '--name', 'hm-wait-crash-redis-1']);
    await expect(waitHealthy([{ service: 'redis', id }], 600, 'postgres and redis')).rejects.toThrow(
      /redis container hm-wait-crash-redis-1 is (restarting \(last exit code 4\)|restarted while waiting \(restart count \d+ → \d+\)|exited \(exit code 4\))/,
    );
  });

  it('does not count a container without a healthcheck as ready until it has stayed up: one that exits after a moment fails', async (t) => {
    const { expect } = t;
    const { start } = composeProject(t, 'hm-wait-settle');
    const once = start('beat', 'sleep 2; exit 5', ['--name', 'hm-wait-settle-beat-1']);
    const looping = start('worker', 'sleep 3; exit 6', ['--restart', 'always', '--name', 'hm-wait-settle-worker-1']);
    await Promise.all([
      expect(waitHealthy([{ service: 'beat', id: once }], 600, 'new beat containers')).rejects.toThrow(
        'new beat containers: beat container hm-wait-settle-beat-1 is exited (exit code 5).',
      ),
      expect(waitHealthy([{ service: 'worker', id: looping }], 600, 'new worker containers')).rejects.toThrow(
        /worker container hm-wait-settle-worker-1 is (restarting \(last exit code 6\)|restarted while waiting \(restart count \d+ → \d+\))/,
      ),
    ]);
  });

  it('fails on an unhealthy container and on one removed while waiting', async (t) => {
    const { expect } = t;
    const { start } = composeProject(t, 'hm-wait-unhealthy');
    const sick = start('backend', 'sleep 600', healthcheck('false'));
    const doomed = start('worker', 'sleep 600', healthcheck('test -f /tmp/never'));
    docker(engine.daemon, ['rm', '-f', doomed]);
    await Promise.all([
      expect(waitHealthy([{ service: 'backend', id: sick }], 60, 'new backend containers')).rejects.toThrow(/backend container \S+ is unhealthy\./),
      expect(waitHealthy([{ service: 'worker', id: doomed }], 60, 'new worker containers')).rejects.toThrow(
        `new worker containers: worker container ${doomed.slice(0, 12)} is gone (removed while waiting).`,
      ),
    ]);
  });

  // After a database outage: HAProxy went unhealthy, and compose would refuse to start what waits on it.
  it('waits for running containers that are unhealthy until they recover, and leaves stopped ones to compose', async (t) => {
    const { expect } = t;
    const { project, start } = composeProject(t, 'hm-wait-recover');
    const sick = start('haproxy', 'sleep 600', [...healthcheck('test -f /tmp/ok'), '--name', 'hm-wait-recover-haproxy-1']);
    const stopped = start('redis', 'exit 0', healthcheck('false'));
    docker(engine.daemon, ['wait', stopped]);
    await waitFor('haproxy unhealthy', async () => (await inspectContainers([sick]))[0]?.health === 'unhealthy', WAIT_BUDGET_MS, 250);
    // The plain wait gives up on it at once; the recovering one waits, and fails at its deadline naming it.
    await expect(waitHealthy([{ service: 'haproxy', id: sick }], 600, 'datastores')).rejects.toThrow(/haproxy container \S+ is unhealthy\./);
    await expect(waitRunningHealthy(project, ['haproxy'], 2, 'after the rebuild', 'start the rest')).rejects.toThrow(
      'after the rebuild: not healthy after 2s (haproxy container hm-wait-recover-haproxy-1 unhealthy running).',
    );
    const waiting = waitRunningHealthy(project, ['haproxy', 'redis', 'backend'], 600, 'after the rebuild', 'start the rest');
    let settled = false;
    const settle = () => {
      settled = true;
    };
    // Both ways: a failure is reported by the `await` below, not as an unhandled rejection.
    waiting.then(settle, settle);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(settled, 'the wait ended while haproxy was still unhealthy').toBe(false);
    docker(engine.daemon, ['exec', sick, 'touch', '/tmp/ok']);
    expect(await waiting).toEqual(['haproxy']);
    expect((await inspectContainers([sick]))[0]?.health).toBe('healthy');
    // Nothing runs: nothing to wait for.
    expect(await waitRunningHealthy(project, ['redis', 'backend'], 600, 'after the rebuild', 'start the rest')).toEqual([]);
  });

  it('passes when every service has containers that become healthy (or run without a healthcheck)', async (t) => {
    const { project, start } = composeProject(t, 'hm-wait-healthy');
    start('postgres', 'sleep 2; touch /tmp/ready; sleep 600', [...healthcheck('test -f /tmp/ready'), '--health-start-period', '60s']);
    start('redis', 'sleep 600');
    await waitServicesHealthy(project, ['postgres', 'redis'], 600, 'postgres and redis');
  });

  it('times out naming the container still starting', async (t) => {
    const { expect } = t;
    const { start } = composeProject(t, 'hm-wait-timeout');
    const id = start('prometheus', 'sleep 600', [
      '--name',
      'hm-wait-timeout-prometheus-1',
      ...healthcheck('test -f /tmp/never'),
      '--health-start-period',
      '60s',
    ]);
    await expect(waitHealthy([{ service: 'prometheus', id }], 3, 'prometheus and alertmanager')).rejects.toThrow(
      /prometheus and alertmanager: not healthy after 3s \(prometheus container hm-wait-timeout-prometheus-1 starting running\)/,
    );
  });
});
