import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCommand } from '../../scripts/lib/deploy/plan.js';
import { waitFor } from '../helpers/net.js';
import { COREUTILS, reducedPath } from '../helpers/reduced-path.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { needTool } from '../helpers/tools.js';
import { docker } from './harness/docker.js';
import { type Dockerd, startDockerd } from './harness/dockerd.js';
import { buildBackend, buildStandIns, type StandInImages } from './harness/images.js';
import { httpsGet } from './harness/probe.js';
import { prepareStack, removeProject, type Stack } from './harness/stack.js';
import { Timings } from './harness/timings.js';

/**
 * The README's manual path, exactly as written: `scp -r dist/prod host:/opt/healthmate &&
 * ssh host /opt/healthmate/up.sh`, to a real OpenSSH server on loopback (the "host" is this
 * machine, as root), with up.sh run by /bin/sh (dash) on a PATH of coreutils, docker and
 * docker-compose only: no Node, no repo. One bring-up against the private dockerd.
 */

const TAG = '1.0.0';

describe('manual path (scp -r dist/prod, ssh host up.sh; no Node on the host)', () => {
  const timings = new Timings();
  let daemon: Dockerd;
  let images: StandInImages;
  let stack: Stack;
  let sshd: Sshd;
  let hostRoot: string;
  let hostPath: string;

  beforeAll(async () => {
    needTool('docker-compose');
    needTool('scp');
    daemon = await timings.time('dockerd start', startDockerd);
    images = await timings.time('image build (base + stand-ins)', () => buildStandIns(daemon, (line) => console.log(`e2e: ${line}`)));
    await timings.time('image build (backend)', () => buildBackend(daemon, images, TAG));
    stack = await prepareStack(daemon, images, { env: 'prod', vars: { BACKEND_TAG: TAG, BACKEND_REPLICAS: '2', WORKER_REPLICAS: '1' } });
    sshd = await startSshd();
    // The host's own folders: a PATH without Node, a HOME, and /opt for the copies.
    hostRoot = join(daemon.root, 'host');
    mkdirSync(join(hostRoot, 'opt'), { recursive: true });
    mkdirSync(join(hostRoot, 'home'), { recursive: true });
    hostPath = reducedPath(hostRoot, [...COREUTILS, 'docker', 'docker-compose']);
  });

  afterAll(async () => {
    await sshd?.stop();
    if (daemon) {
      if (stack) removeProject(daemon, stack.project);
      await timings.time('teardown', () => daemon.stop());
    }
    timings.write('timings-manual.json');
  });

  const scp = (target: string) =>
    spawnSync('scp', ['-F', sshd.configFile, '-q', '-r', join(stack.repo, 'dist', 'prod'), `sshd-test:${target}`], { encoding: 'utf8', timeout: 60_000 });
  /** `ssh host <bundle>/up.sh`, with the host's environment: reduced PATH, the engine of this run. */
  const onHost = (argv: string[]) => {
    const remote = formatCommand(['env', '-i', `PATH=${hostPath}`, `HOME=${join(hostRoot, 'home')}`, `DOCKER_HOST=${daemon.host}`, ...argv]);
    const result = spawnSync('ssh', [...sshd.sshArgs, remote], { encoding: 'utf8', timeout: 900_000 });
    return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
  };
  const upOverSsh = (bundle: string) => onHost([join(bundle, 'up.sh')]);
  const containers = (): string[] =>
    docker(daemon, [
      'ps',
      '-a',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--format',
      '{{.ID}} {{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}',
    ])
      .split('\n')
      .filter(Boolean);

  it('renders on the operator machine; a tampered copy is refused before anything starts; the exact copy comes up healthy and HTTPS /health verifies with the CA; a second run changes nothing', async () => {
    // The host's shell finds no Node (nor bash, awk) on its PATH; it does find docker.
    expect(onHost(['sh', '-c', 'command -v node || command -v bash || command -v awk']).code).not.toBe(0);
    expect(onHost(['sh', '-c', 'command -v docker-compose']).code).toBe(0);

    // Operator machine: the certificate (local CA) and the bundle.
    const certs = stack.run('generate-certs.ts', ['--env', 'prod', '--env-file', stack.envFile, '--mode', 'ca']);
    expect(certs.code, certs.stderr).toBe(0);
    // pgBackRest's mutual-TLS pair for the database host, which postgres and its pgbackrest server mount.
    const pgbackrestCerts = stack.run('generate-certs.ts', ['--env', 'prod', '--env-file', stack.envFile, '--profile', 'pgbackrest']);
    expect(pgbackrestCerts.code, pgbackrestCerts.stderr).toBe(0);
    // etcd's and Patroni's certificates for the (one) db host, and the CA copy HAProxy mounts.
    const clusterCerts = stack.run('generate-certs.ts', ['--env', 'prod', '--env-file', stack.envFile, '--profile', 'cluster']);
    expect(clusterCerts.code, clusterCerts.stderr).toBe(0);
    const render = stack.run('render.ts', ['--env', 'prod', '--env-file', stack.envFile]);
    expect(render.code, render.stderr).toBe(0);

    // A copy changed after the render: refused with exit 2, no container created.
    const tampered = join(hostRoot, 'opt', 'tampered');
    expect(scp(tampered).status).toBe(0);
    appendFileSync(join(tampered, 'nginx', 'nginx.conf'), '\n# edited on the host\n');
    const refused = upOverSsh(tampered);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('nginx/nginx.conf: FAILED');
    expect(refused.stderr).toMatch(/up\.sh: the copy in \S+ does not match its SHA256SUMS/);
    expect(containers()).toEqual([]);

    // The README's path.
    const bundle = join(hostRoot, 'opt', 'healthmate');
    expect(scp(bundle).status).toBe(0);
    const up = await timings.time('up.sh (bring-up)', () => upOverSsh(bundle));
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    expect(up.stdout).toMatch(/^up: compose project hm-e2e-prod from /m);

    // up.sh waited for health itself: right after it, every service has a container and all are healthy.
    const setup = containers();
    const services = new Set(setup.map((line) => line.split(' ')[1]));
    for (const service of [
      'etcd',
      'postgres',
      'pgbackrest',
      'haproxy',
      'redis',
      'backend',
      'worker',
      'beat',
      'nginx',
      'prometheus',
      'alertmanager',
      'grafana',
      'postgres-exporter',
      'redis-exporter',
      'node-exporter',
      'nginx-exporter',
      'blackbox-exporter',
    ]) {
      expect(services, setup.join('\n')).toContain(service);
    }
    for (const line of setup) expect(line).toMatch(/ running Up .*(\(healthy\)|[^)]$)/);
    expect(setup.filter((line) => line.split(' ')[1] === 'backend')).toHaveLength(2);

    // Each secret belongs to the uid that reads it (the reason up.sh exists), state folders exist.
    expect(statSync(join(bundle, 'secrets', 'database_url')).uid).toBe(10001);
    expect(statSync(join(bundle, 'secrets', 'grafana_admin_password')).uid).toBe(472);
    expect(statSync(join(bundle, 'secrets', 'postgres_password')).uid).toBe(999);

    const health = await httpsGet(stack.domain, stack.httpsPort, '/health', stack.caFile);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'healthy', version: TAG });

    // Idempotent: a second run recreates nothing.
    const ids = setup.map((line) => line.split(' ')[0]).sort();
    const again = await timings.time('up.sh (second run)', () => upOverSsh(bundle));
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    // Its reload (SIGHUP) reached nginx, Prometheus and Alertmanager, and they still serve.
    for (const service of ['nginx', 'prometheus', 'alertmanager', 'blackbox-exporter']) expect(again.stderr).toContain(`exec -T ${service} sh -c kill -HUP 1`);
    expect((await httpsGet(stack.domain, stack.httpsPort, '/health', stack.caFile)).status).toBe(200);
    // A reload in progress may reset a connection: they must be ready again within seconds.
    for (const url of ['http://127.0.0.1:9090/-/ready', 'http://127.0.0.1:9093/-/ready'])
      await waitFor(`${url} after the reload`, async () => (await fetch(url)).status === 200, 30_000, 500);
    expect(
      containers()
        .map((line) => line.split(' ')[0])
        .sort(),
    ).toEqual(ids);
  });
});
