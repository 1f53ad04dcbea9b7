import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'vitest';
import { COMPOSE_V1, composeBase } from '../../scripts/lib/compose/engine.js';
import { inspectContainers, serviceContainers, waitServicesHealthy } from '../../scripts/lib/containers.js';
import { type RolloutContext, rollingUpdate } from '../../scripts/lib/deploy/rollout.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { privateEngine } from './engine.js';

/**
 * The rolling update's health gate against a real engine (a private dockerd)
 * and the real docker-compose: a release whose new containers never turn
 * healthy must fail, take its new containers away and leave the old ones
 * serving. Busybox containers without a network stand in for the backend.
 * The tests run side by side (mostly waiting on health checks), each with its
 * own compose project and folder.
 */
const engine = privateEngine();

let projects = 0;

interface Release {
  /** Whether the container's healthcheck ever passes. */
  healthy: boolean;
  /** Failed checks during this period do not count: the container stays `starting`. */
  startPeriod?: string;
}

/** Test `t`'s compose project with one service whose containers run the release `write` puts in its compose file. */
function project(t: TestContext, service: 'backend' | 'worker', healthTimeout = 600) {
  const name = `hm-roll-${++projects}`;
  const file = join(tempDir(undefined, t), 'docker-compose.yml');
  const write = (release: Release): void => {
    const command = release.healthy ? 'touch /tmp/healthy; exec sleep 600' : 'exec sleep 600';
    writeFileSync(
      file,
      [
        'services:',
        `  ${service}:`,
        `    image: ${engine.image}`,
        '    network_mode: none',
        `    command: ["sh", "-c", "${command}"]`,
        '    healthcheck:',
        '      test: ["CMD", "test", "-f", "/tmp/healthy"]',
        '      interval: 1s',
        '      timeout: 5s',
        '      retries: 1',
        `      start_period: ${release.startPeriod ?? '0s'}`,
        '',
      ].join('\n'),
    );
  };
  const values = { COMPOSE_PROJECT_NAME: name, BACKEND_HEALTH_TIMEOUT: healthTimeout, BACKEND_STOP_GRACE: '1s' };
  // Typed: a field the update starts to read, or one that moves, fails the typecheck here.
  const ctx: RolloutContext = { plan: { env: { values } }, target: { compose: composeBase(COMPOSE_V1, name, file) } };
  const containers = () => serviceContainers(name, service);
  /** The release running before the update: `replicas` healthy containers. */
  const first = async (replicas: number): Promise<string[]> => {
    needTool('docker-compose');
    write({ healthy: true });
    const up = spawnSync('docker-compose', ['-p', name, '-f', file, 'up', '-d', '--scale', `${service}=${replicas}`], {
      env: engine.daemon.env,
      encoding: 'utf8',
    });
    if (up.status !== 0) throw new Error(`docker-compose up failed: ${up.stderr}`);
    await waitServicesHealthy(name, [service], 600, 'the first release');
    return containers();
  };
  return { ctx, write, containers, first };
}

/** Every container of the list is running and healthy. */
async function serving(ids: string[]): Promise<boolean> {
  const states = await inspectContainers(ids);
  return states.length === ids.length && states.every((s) => s.status === 'running' && s.health === 'healthy');
}

describe.concurrent('rollingUpdate (real engine and docker-compose)', () => {
  it('replaces the old containers with healthy new ones', async (t) => {
    const { expect } = t;
    const p = project(t, 'worker');
    const old = await p.first(2);
    expect(old).toHaveLength(2);
    await rollingUpdate(p.ctx, 'worker', 2);
    const now = await p.containers();
    expect(now).toHaveLength(2);
    expect(now.filter((id) => old.includes(id))).toEqual([]);
    expect(await serving(now)).toBe(true);
  });

  it('a new release that turns unhealthy: fails naming it, removes the new containers, the old ones keep serving', async (t) => {
    const { expect } = t;
    const p = project(t, 'backend');
    const old = await p.first(2);
    p.write({ healthy: false });
    await expect(rollingUpdate(p.ctx, 'backend', 2)).rejects.toThrow(/^new backend containers: backend container \S+ is unhealthy\.$/);
    expect(await p.containers()).toEqual(old);
    expect(await serving(old)).toBe(true);
  });

  it('a new release that never leaves "starting": fails when BACKEND_HEALTH_TIMEOUT runs out, the old ones keep serving', async (t) => {
    const { expect } = t;
    const p = project(t, 'backend', 5);
    const old = await p.first(1);
    p.write({ healthy: false, startPeriod: '600s' });
    await expect(rollingUpdate(p.ctx, 'backend', 1)).rejects.toThrow(
      /^new backend containers: not healthy after 5s \(backend container \S+ starting running\)\.$/,
    );
    expect(await p.containers()).toEqual(old);
    expect(await serving(old)).toBe(true);
  });
});
