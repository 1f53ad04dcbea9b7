import { afterAll, beforeAll } from 'vitest';
import { docker } from '../e2e/harness/docker.js';
import { type Dockerd, startDockerd } from '../e2e/harness/dockerd.js';
import { importBusyboxImage } from '../helpers/busybox.js';

export interface Engine {
  daemon: Dockerd;
  /** The busybox image's tag in that daemon. */
  image: string;
}

/**
 * For a test file whose code reaches Docker through DOCKER_HOST: a private
 * dockerd with the busybox image, started before the file's tests and stopped
 * after them. Read the fields inside tests and hooks.
 * The daemon is thrown away, so its containers are killed first: a graceful
 * stop would wait out the 10 s shutdown timeout for every `sleep` that, as
 * PID 1 without a handler, ignores SIGTERM.
 */
export function privateEngine(): Engine {
  const engine = {} as Engine;
  const saved = process.env.DOCKER_HOST;
  beforeAll(async () => {
    engine.daemon = await startDockerd();
    process.env.DOCKER_HOST = engine.daemon.host;
    engine.image = importBusyboxImage(engine.daemon.env);
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    if (!engine.daemon) return;
    try {
      const left = docker(engine.daemon, ['ps', '-aq']).split('\n').filter(Boolean);
      if (left.length > 0) docker(engine.daemon, ['rm', '-f', ...left]);
    } finally {
      await engine.daemon.stop();
    }
  });
  return engine;
}
