import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspectContainers, serviceContainers } from '../../scripts/lib/containers.js';
import { askEngine, engineHas } from '../../scripts/lib/docker-engine.js';
import { OperationError } from '../../scripts/lib/errors.js';
import { docker } from '../e2e/harness/docker.js';
import { type Dockerd, startDockerd } from '../e2e/harness/dockerd.js';
import { importBusyboxImage } from '../helpers/busybox.js';
import { type SilentServers, startSilentServers } from '../helpers/silent-server.js';

/**
 * Questions to the Docker engine: "absent" only when a real engine (a private dockerd) says
 * so; an engine that cannot be reached, or accepts and never answers (a unix socket and a TCP
 * port that hold the connection), is an error naming DOCKER_HOST, within the engine timeout.
 */
let daemon: Dockerd;
let silent: SilentServers;
let image: string;
const saved = { DOCKER_HOST: process.env.DOCKER_HOST, HEALTHMATE_ENGINE_TIMEOUT: process.env.HEALTHMATE_ENGINE_TIMEOUT };

beforeAll(async () => {
  [daemon, silent] = await Promise.all([startDockerd(), startSilentServers()]);
  image = importBusyboxImage(daemon.env);
  docker(daemon, ['volume', 'create', 'hm-engine-present']);
});

afterAll(async () => {
  await silent?.close();
  await daemon?.stop();
});

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('engineHas: absent only when the engine says so', () => {
  it('a real engine: a volume and an image that exist, and ones that do not', async () => {
    process.env.DOCKER_HOST = daemon.host;
    expect(await engineHas('volume', 'hm-engine-present')).toBe(true);
    expect(await engineHas('volume', 'hm-engine-absent')).toBe(false);
    expect(await engineHas('image', image)).toBe(true);
    expect(await engineHas('image', 'healthmate-test/absent:1')).toBe(false);
  });

  it('an engine that is not there: an error naming it, never "absent"', async () => {
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    const asked = engineHas('volume', 'hm-engine-present');
    await expect(asked).rejects.toBeInstanceOf(OperationError);
    await expect(asked).rejects.toThrow(
      /^could not ask the Docker engine at unix:\/\/\/nonexistent\/docker\.sock whether volume hm-engine-present exists: .*Cannot connect to the Docker daemon/,
    );
  });
});

describe('every engine question is bounded by HEALTHMATE_ENGINE_TIMEOUT', () => {
  for (const kind of ['unix', 'tcp'] as const) {
    it(`an engine on a ${kind} socket that accepts and never answers: an error naming it, not a hang`, async () => {
      const host = kind === 'unix' ? silent.unixUrl : `tcp://127.0.0.1:${silent.port}`;
      process.env.DOCKER_HOST = host;
      process.env.HEALTHMATE_ENGINE_TIMEOUT = '2';
      const before = silent.accepted();
      const message = `the Docker engine at ${host} did not answer \`docker volume inspect hm-engine-present\` within 2 s.`;
      // Side by side: each question has its own bound.
      await Promise.all([
        expect(engineHas('volume', 'hm-engine-present')).rejects.toThrow(message),
        expect(serviceContainers('hm', 'postgres')).rejects.toThrow(`the Docker engine at ${host} did not answer`),
        expect(inspectContainers(['abc'])).rejects.toThrow(`the Docker engine at ${host} did not answer`),
      ]);
      // The client reached the socket each time: the bound, not a refused connection, ended them.
      expect(silent.accepted() - before).toBeGreaterThanOrEqual(3);
    });
  }

  it('a command that is not installed answers 127, not an exception', async () => {
    expect(await askEngine(['healthmate-no-such-tool', 'ps'])).toMatchObject({ code: 127 });
  });
});
