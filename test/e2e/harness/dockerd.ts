import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../helpers/net.js';
import { needTool } from '../../helpers/tools.js';

/**
 * A private dockerd for one e2e run. Its state lives in a temp folder, it
 * never touches the host's firewall or forwarding, and its networks come from
 * a benchmark-only range (198.18.0.0/16, RFC 2544) so nothing leaves the machine.
 */
export interface Dockerd {
  /** unix://<tmp>/docker.sock, to pass as DOCKER_HOST. */
  host: string;
  /** Environment for docker / docker-compose / deploy scripts: DOCKER_HOST points at this daemon only. */
  env: NodeJS.ProcessEnv;
  root: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Refuses a run aimed at a daemon the harness did not start. */
export function assertNoForeignDaemon(): void {
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix:///tmp/hm-e2e-')) {
    throw new Error(`DOCKER_HOST is ${host}: the e2e harness only talks to the dockerd it starts itself; unset DOCKER_HOST to run it.`);
  }
}

/**
 * Each run takes a random /20 of 198.18.0.0/16 for its /24 networks, so two
 * private daemons on this host (other suites, a second run) do not route the
 * same subnet through two bridges.
 */
function addressPool(): string {
  const slice = Math.floor(Math.random() * 16) * 16;
  return `base=198.18.${slice}.0/20,size=24`;
}

export async function startDockerd(): Promise<Dockerd> {
  assertNoForeignDaemon();
  const dockerdPath = needTool('dockerd');
  needTool('docker');
  // Short path: a unix socket path must stay under 108 bytes.
  const root = mkdtempSync('/tmp/hm-e2e-');
  const socket = join(root, 'docker.sock');
  const host = `unix://${socket}`;
  const logFile = join(root, 'dockerd.log');
  const dataRoot = join(root, 'data');
  const execRoot = join(root, 'exec');
  mkdirSync(dataRoot);
  mkdirSync(execRoot);
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    dockerdPath,
    [
      `--data-root=${dataRoot}`,
      `--exec-root=${execRoot}`,
      `--pidfile=${join(root, 'dockerd.pid')}`,
      `-H=${host}`,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      // No default bridge: docker0 would clash with another daemon on this host.
      '--bridge=none',
      `--default-address-pool=${addressPool()}`,
      '--storage-driver=overlay2',
      '--log-driver=json-file',
    ],
    { stdio: ['ignore', out, out], detached: true },
  );
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, COMPOSE_INTERACTIVE_NO_CLI: '1', DOCKER_BUILDKIT: '0' };
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited && child.pid) {
      process.kill(child.pid, 'SIGTERM');
      await waitFor('dockerd to stop', () => exited, 60_000, 200).catch(() => {
        if (child.pid && !exited) process.kill(-child.pid, 'SIGKILL');
      });
    }
    // Containers' overlay mounts and netns files outlive a killed daemon; unmount before removing.
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    await waitFor(
      'the private dockerd to answer',
      () => {
        if (exited) throw new Error(`dockerd exited at start:\n${tail(logFile)}`);
        return spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, encoding: 'utf8' }).status === 0;
      },
      60_000,
      250,
    );
    // The socket must lead to the daemon started here, not to another one listening at that path.
    const info = spawnSync('docker', ['info', '--format', '{{.DockerRootDir}}'], { env, encoding: 'utf8' });
    if (info.stdout.trim() !== dataRoot) throw new Error(`docker at ${host} reports root ${info.stdout.trim()}, not ${dataRoot}: refusing to use it.`);
  } catch (error) {
    if (exited) throw error;
    await stop();
    throw error;
  }
  return { host, env, root, logFile, stop };
}

function tail(file: string, lines = 30): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';
}

function unmountUnder(root: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) spawnSync('umount', ['-l', point]);
}
