import { afterAll, beforeAll } from 'vitest';
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
    await engine.daemon?.stop();
  });
  return engine;
}
