import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostsRecords } from '../helpers/harness-records.js';
import { waitFor } from '../helpers/net.js';
import { runAsync, type ScriptResult } from '../helpers/run.js';
import { docker } from './harness/docker.js';
import { type Host, type Hosts, startHosts } from './harness/hosts.js';
import { buildStandIns, copyImages, type StandInImages } from './harness/images.js';
import { Timings } from './harness/timings.js';

/**
 * The multi-host harness (harness/hosts.ts) keeps its promises: three hosts, each its own
 * network namespace, dockerd and sshd, reached as in production through
 * DOCKER_HOST=ssh://root@<address> (docker and docker-compose 1.29); containers reach the
 * other hosts' published ports; the two ways to lose a host, and the way back.
 */
const PORT = 8080;
const timings = new Timings();
let hosts: Hosts;
let images: StandInImages;
let a: Host;
let b: Host;
let c: Host;
let rootFirewall: string;

/** The root namespace's firewall, without counters: the hosts' daemons must never change it. */
function firewall(): string {
  const saved = spawnSync('iptables-save', [], { encoding: 'utf8' });
  return (saved.stdout ?? '')
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
}

/** docker-compose 1.29 on the operator's side, the engine reached through ssh (not blocking: the hosts' runs overlap). */
function compose(host: Host, args: string[]): Promise<ScriptResult> {
  return runAsync('docker-compose', ['-p', 'tiny', ...args], {
    cwd: join(hosts.operatorDir, 'tiny'),
    // Compose interpolates these from the operator's environment.
    env: { ...host.env, HOST_NAME: host.name, HOST_ADDRESS: host.address, BASE_IMAGE: images.base, WEB_IMAGE: images.vars.NGINX_IMAGE },
    timeoutMs: 300_000,
  });
}

/**
 * What a container of the project on `from` gets from `to`'s published port (through
 * `from`'s socket: the probe must work while `to` is gone), or undefined when it gets nothing.
 */
function fetchFrom(from: Host, to: Host): string | undefined {
  const id = docker(from.local, ['ps', '-q', '--filter', 'label=com.docker.compose.project=tiny', '--filter', 'label=com.docker.compose.service=app']).trim();
  const result = spawnSync('docker', ['exec', id, 'curl', '-sf', '-m', '2', `http://${to.address}:${PORT}/`], {
    env: from.local.env,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Seconds until `from` no longer gets an answer from `to` (each probe waits up to 2 s). */
async function secondsUntilUnreachable(from: Host, to: Host, since: number): Promise<number> {
  await waitFor(`${to.name} to stop answering ${from.name}`, () => fetchFrom(from, to) === undefined, 30_000, 100);
  return Math.round((Date.now() - since) / 100) / 10;
}

/** Seconds `docker info` over ssh takes to fail against a lost host (what a deploy's preflight meets); throws when it answers. */
async function secondsUntilDockerFails(host: Host): Promise<number> {
  const started = Date.now();
  const info = await runAsync('docker', ['info', '--format', '{{.DockerRootDir}}'], { env: host.env, timeoutMs: 120_000 });
  if (info.code === 0) throw new Error(`docker over ssh still answers from ${host.name} (${host.state}).`);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  timings.note(`docker info over ssh to a ${host.state} host fails after (s)`, seconds);
  return seconds;
}

beforeAll(async () => {
  rootFirewall = firewall();
  hosts = await timings.time('hosts up (3)', () => startHosts(3));
  [a, b, c] = hosts.hosts as [Host, Host, Host];
  images = await timings.time(`images on ${a.name} (import + build)`, () => buildStandIns(a.local, (line) => console.log(`images: ${line}`)));
  await timings.time(`images to ${b.name}, ${c.name} (save | load)`, () => copyImages(a.local, [b.local, c.local]));
  // The project lives where the operator keeps files; the hosts see it only through compose over ssh.
  mkdirSync(join(hosts.operatorDir, 'tiny'));
  copyFileSync(join(import.meta.dirname, 'tiny', 'docker-compose.yml'), join(hosts.operatorDir, 'tiny', 'docker-compose.yml'));
}, 1_200_000);

afterAll(async () => {
  await hosts?.stop();
  timings.write('timings-hosts.json');
});

describe('e2e hosts: three engines in their own network namespaces, reached over ssh', () => {
  it('refuses to start when DOCKER_HOST names a daemon it did not start', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///var/run/docker.sock';
    try {
      await expect(startHosts(1)).rejects.toThrow(/only talks to the dockerd it starts/);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('each host answers docker over ssh:// from its own daemon, under its own name, with its own disk', () => {
    for (const host of hosts.hosts) {
      const info = spawnSync('docker', ['--host', host.engine, 'info', '--format', '{{.DockerRootDir}} {{.Name}}'], {
        env: hosts.operatorEnv,
        encoding: 'utf8',
      });
      expect(info.stderr).toBe('');
      expect(info.stdout.trim()).toBe(`${host.dataRoot} ${host.name}`);
      // The stand-ins are on every engine.
      expect(docker(host, ['image', 'inspect', '--format', '{{.Id}}', images.vars.POSTGRES_IMAGE as string]).trim()).toMatch(/^sha256:/);
    }
    // The operator's folder is not on the hosts: a file gets there over ssh, to that host only, at the same path.
    const file = join(hosts.operatorDir, 'state', 'marker');
    mkdirSync(join(hosts.operatorDir, 'state'));
    writeFileSync(file, 'operator\n');
    const ssh = (host: Host, command: string, input?: string) =>
      spawnSync('ssh', [`root@${host.address}`, command], { env: hosts.operatorEnv, encoding: 'utf8', input, timeout: 30_000 });
    expect(ssh(b, `test -e ${file}`).status).toBe(1);
    expect(ssh(b, `mkdir -p ${join(hosts.operatorDir, 'state')} && cat > ${file}`, 'copied to b\n').status).toBe(0);
    expect(ssh(b, `cat ${file}`).stdout).toBe('copied to b\n');
    expect(ssh(a, `test -e ${file}`).status).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe('operator\n');
    // A session's shell sees the host's own engine.
    expect(ssh(c, 'echo "$DOCKER_HOST"').stdout.trim()).toBe(`unix://${c.dataRoot.replace(/data$/, 'docker.sock')}`);
  });

  it('docker-compose 1.29 over ssh:// brings a project up on each host; containers reach other hosts and their own host', async () => {
    const ups = await timings.time('compose up over ssh on the 3 hosts at once', () => Promise.all(hosts.hosts.map((host) => compose(host, ['up', '-d']))));
    for (const up of ups) expect(up.code, up.stderr).toBe(0);
    await waitFor(
      'web on every host to answer from its own host',
      () => hosts.hosts.every((host) => fetchFrom(host, host) === `served by ${host.name}`),
      120_000,
      500,
    );
    expect(fetchFrom(a, b)).toBe(`served by ${b.name}`);
    expect(fetchFrom(c, a)).toBe(`served by ${a.name}`);
    // Published on the host address only: nothing listens on 0.0.0.0:8080 of a host.
    const listening = hosts.onHost(b, ['ss', '-Htln', `sport = :${PORT}`]);
    expect(listening.stdout).toContain(`${b.address}:${PORT}`);
    expect(listening.stdout).not.toMatch(/(0\.0\.0\.0|\*):8080/);
    expect(firewall()).toBe(rootFirewall);
  });

  it('a cut link makes B unreachable while A and C talk on; link up brings it back', async () => {
    const since = Date.now();
    await hosts.loseHost(b, 'cut');
    timings.note('cut → B unreachable from A (s)', await secondsUntilUnreachable(a, b, since));
    expect(fetchFrom(a, c)).toBe(`served by ${c.name}`);
    expect(fetchFrom(c, a)).toBe(`served by ${a.name}`);
    // Cut off, not dead: B's own containers run on and still answer B itself.
    expect(fetchFrom(b, b)).toBe(`served by ${b.name}`);
    expect(await secondsUntilDockerFails(b)).toBeGreaterThan(0);
    const restored = Date.now();
    await hosts.restoreHost(b);
    await waitFor('B to answer A again', () => fetchFrom(a, b) === `served by ${b.name}`, 60_000, 200);
    timings.note('link up → B answers A (s)', (Date.now() - restored) / 1000);
  });

  it('a killed host loses every process and its network; its boot brings the restart-policy containers back', async () => {
    const before = (await compose(b, ['ps', '-q'])).stdout.trim().split('\n').sort();
    expect(before).toHaveLength(2);
    // The host's processes include its containers' (a power cut of B must take them down with it).
    const containerPids = docker(b, ['inspect', '--format', '{{.State.Pid}}', ...before])
      .trim()
      .split('\n')
      .map(Number);
    expect(hosts.pids(b)).toEqual(expect.arrayContaining(containerPids));
    const since = Date.now();
    await hosts.loseHost(b, 'kill');
    timings.note('kill → B unreachable from A (s)', await secondsUntilUnreachable(a, b, since));
    expect(fetchFrom(a, c)).toBe(`served by ${c.name}`);
    expect(fetchFrom(c, a)).toBe(`served by ${a.name}`);
    expect(hosts.pids(b)).toEqual([]);
    expect(containerPids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    // Nor does any process name B's folder (its daemons, containerd and the shims do).
    const left = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(hosts.made.root, b.name));
        } catch {
          return false;
        }
      });
    expect(left).toEqual([]);
    // B's namespace by its exact name (a bare `-b` also matched a run whose random id began with b).
    expect(namespaces()).not.toContain(hosts.made.netns.find((name) => name.endsWith(`-${b.name}`)));
    expect(await secondsUntilDockerFails(b)).toBeGreaterThan(0);

    const booted = Date.now();
    await hosts.restoreHost(b);
    timings.note('boot → B engine answers over ssh (s)', (Date.now() - booted) / 1000);
    const info = spawnSync('docker', ['info', '--format', '{{.DockerRootDir}}'], { env: b.env, encoding: 'utf8' });
    expect(info.stdout.trim()).toBe(b.dataRoot);
    await waitFor('B to answer A again', () => fetchFrom(a, b) === `served by ${b.name}`, 120_000, 500);
    timings.note('boot → B answers A (s)', (Date.now() - booted) / 1000);
    // The same containers, started again by their restart policy (no compose run since).
    const running = docker(b, ['ps', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=tiny']).trim().split('\n').sort();
    expect(running).toEqual(before);
  });

  it('stop leaves no process, namespace, link, cgroup, mount, route or folder behind', async () => {
    const { made } = hosts;
    // The run's teardown (test/leftovers.ts) knows every part by the record the hosts wrote first.
    expect(hostsRecords(tmpdir())).toContainEqual({ root: made.root, bridge: made.bridge, netns: made.netns, links: made.links });
    await hosts.stop();
    expect(existsSync(made.root)).toBe(false);
    expect(namespaces().filter((name) => made.netns.includes(name))).toEqual([]);
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    for (const link of [made.bridge, ...made.links]) expect(links).not.toMatch(new RegExp(`: ${link}[:@]`));
    expect(spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' }).stdout).not.toContain(made.bridge);
    for (const hierarchy of readdirSync('/sys/fs/cgroup'))
      for (const group of made.cgroups) expect(existsSync(join('/sys/fs/cgroup', hierarchy, group))).toBe(false);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(made.root);
    const processes = readdirSync('/proc').filter((pid) => {
      try {
        return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(made.root);
      } catch {
        return false;
      }
    });
    expect(processes).toEqual([]);
    expect(firewall()).toBe(rootFirewall);
  });
});

/** The network namespaces on this machine, by name. */
function namespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.split(' ')[0] as string)
    .filter(Boolean);
}
