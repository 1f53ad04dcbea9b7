import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPOSE_V1 } from '../../scripts/lib/compose/engine.js';
import { serviceContainers } from '../../scripts/lib/containers.js';
import { engineHost } from '../../scripts/lib/deploy/host.js';
import { type HostTarget, onEngine, probeEngines, refuseUnreachable } from '../../scripts/lib/deploy/hosts.js';
import { deployStatus } from '../../scripts/lib/deploy/status.js';
import { deployStore } from '../../scripts/lib/deploy/store.js';
import { IMPLICIT_HOST } from '../../scripts/lib/env/inventory.js';
import { OperationError } from '../../scripts/lib/errors.js';
import { docker } from '../e2e/harness/docker.js';
import { type Dockerd, startDockerd } from '../e2e/harness/dockerd.js';
import { importBusyboxImage } from '../helpers/busybox.js';
import { freePort } from '../helpers/net.js';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Two private dockerds as two "hosts" on one machine: each host's commands must reach its own
 * engine, every engine is asked before anything changes, and one that cannot be reached (an
 * ssh:// engine on a closed port) stops a deploy with one sentence naming it while the other
 * host keeps nothing of it. No cross-host network is needed for that; the three-host bring-up
 * over ssh is the e2e suite's.
 */
let a: Dockerd;
let b: Dockerd;
let image: string;
const PROJECT = 'hm-hosts';

beforeAll(async () => {
  [a, b] = await Promise.all([startDockerd(), startDockerd()]);
  image = importBusyboxImage(a.env);
  importBusyboxImage(b.env);
}, 240_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** A host target whose engine is a private dockerd (what an ssh:// engine= amounts to once connected). */
function target(name: string, daemon: Dockerd): HostTarget {
  return {
    host: { ...IMPLICIT_HOST, name },
    folder: name,
    dockerHost: daemon.host,
    engine: engineHost(daemon.host),
    currentDir: `/nonexistent/${name}/current`,
    compose: [...COMPOSE_V1.argv, '-p', PROJECT, '-f', `/nonexistent/${name}/current/docker-compose.yml`],
  };
}

/** A container labelled as compose labels a service of the project. */
function run(daemon: Dockerd, service: string): string {
  const labels = ['--label', `com.docker.compose.project=${PROJECT}`, '--label', `com.docker.compose.service=${service}`];
  return docker(daemon, ['run', '-d', '--network', 'none', ...labels, image, 'sleep', '600']).trim();
}

function everything(daemon: Dockerd): string[] {
  return ['ps -aq', 'volume ls -q', 'network ls -q --filter type=custom'].flatMap((args) => docker(daemon, args.split(' ')).split('\n').filter(Boolean));
}

describe("each host's commands reach its own engine", () => {
  it('onEngine points DOCKER_HOST at the host while its work runs, and gives the caller its own back', async () => {
    const onA = run(a, 'postgres');
    const onB = run(b, 'backend');
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/caller.sock';
    try {
      expect(await onEngine(target('db1', a), () => serviceContainers(PROJECT, 'postgres'))).toEqual([onA]);
      expect(await onEngine(target('web', b), () => serviceContainers(PROJECT, 'postgres'))).toEqual([]);
      expect(await onEngine(target('web', b), () => serviceContainers(PROJECT, 'backend'))).toEqual([onB]);
      // A failure inside still restores the caller's engine.
      await expect(onEngine(target('db1', a), () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(process.env.DOCKER_HOST).toBe('unix:///nonexistent/caller.sock');
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      docker(a, ['rm', '-f', onA]);
      docker(b, ['rm', '-f', onB]);
    }
  });

  it('every engine is asked in inventory order; the first that does not answer is one sentence naming its host', async () => {
    const closed = await freePort();
    const dead: HostTarget = { ...target('db3', a), dockerHost: `ssh://deploy@127.0.0.1:${closed}`, engine: engineHost(`ssh://deploy@127.0.0.1:${closed}`) };
    const answers = await probeEngines([target('db1', a), target('web', b), dead]);
    expect(answers.map((x) => [x.target.host.name, Boolean(x.version), Boolean(x.problem)])).toEqual([
      ['db1', true, false],
      ['web', true, false],
      ['db3', false, true],
    ]);
    const refused = probeEngines([target('db1', a), dead, target('web', b)]).then(refuseUnreachable);
    await expect(refused).rejects.toBeInstanceOf(OperationError);
    // docker's own words follow "cannot be reached:": usually ssh's "Connection refused", but on a busy box
    // docker may lose the race to ssh's exit and fail writing to it: "write |1: file already closed" or
    // "write |1: broken pipe".
    await expect(refused).rejects.toThrow(
      new RegExp(
        `^host db3's Docker engine \\(ssh://deploy@127\\.0\\.0\\.1:${closed}\\) cannot be reached: .*(Connection refused|write \\|1: (file already closed|broken pipe)).*; nothing was started or stopped on any host\\.$`,
      ),
    );
  });

  it('--status shows every host from its own engine', async () => {
    const onA = run(a, 'postgres');
    const onB = run(b, 'backend');
    try {
      const store = deployStore({ kind: 'local' }, join(tempDir(), 'deploy'));
      const text = await deployStatus(store, PROJECT, [target('db1', a), target('web', b)]);
      expect(text).toMatch(/^host db1 \(db,app; engine local\), replicas \(project hm-hosts\):\n {2}postgres: 1 running\n/m);
      expect(text).toMatch(/^host web \(db,app; engine local\), replicas \(project hm-hosts\):\n {2}backend: 1 running\n/m);
    } finally {
      docker(a, ['rm', '-f', onA]);
      docker(b, ['rm', '-f', onB]);
    }
  });
});

describe('deploy-prod.ts across hosts', () => {
  /** A production env file as init-env.ts writes it, with the inventory appended. */
  function envFile(dir: string, hosts: string[]): string {
    const init = runScript('init-env.ts', ['--env', 'prod', '--domain', 'api.healthmate.org'], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    const file = join(dir, '.env.prod');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n${hosts.join('\n')}\n`);
    return file;
  }

  it('an unreachable second host: exit 1, one sentence naming it, and nothing changed on the first host nor here', async () => {
    const dir = tempDir();
    const closed = await freePort();
    const file = envFile(dir, [
      'HOST_FIRST=engine=local roles=db,app address=127.0.0.1',
      `HOST_SECOND=engine=ssh://deploy@127.0.0.1:${closed} roles=app address=127.0.0.2`,
    ]);
    const before = everything(a);
    const state = join(dir, 'state');
    const result = runScript('deploy-prod.ts', ['--env-file', file, '--set', `STATE_DIR=${state}`, '--skip-backup'], {
      cwd: dir,
      env: { DOCKER_HOST: a.host, NO_COLOR: '1' },
      timeoutMs: 180_000,
    });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.match(/^error: .*/gm)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: host second's Docker engine \\(ssh://deploy@127\\.0\\.0\\.1:${closed}\\) cannot be reached: .*; nothing was started or stopped on any host\\.$`,
        ),
      ),
    ]);
    expect(everything(a)).toEqual(before);
    // Refused under the lock: its folder on the first host is all there is, and empty (no lock, no audit line).
    expect(readdirSync(state, { recursive: true })).toEqual(['deploy']);
    expect(readdirSync(dir).sort()).toEqual(['.env.prod', 'state']);
    // --status still answers: the first host's state, and the second said to be unreachable.
    const status = runScript('deploy-prod.ts', ['--env-file', file, '--set', `STATE_DIR=${state}`, '--status'], { cwd: dir, env: { DOCKER_HOST: a.host } });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^host first \(db,app; engine local\), replicas \(project healthmate\):\n {2}no containers of project healthmate$/m);
    expect(status.stdout).toMatch(
      /^host second \(app; engine ssh:\/\/deploy@127\.0\.0\.1:\d+\), replicas \(project healthmate\):\n {2}the Docker engine at ssh:\/\/\S+ cannot be reached$/m,
    );
  }, 240_000);
});
