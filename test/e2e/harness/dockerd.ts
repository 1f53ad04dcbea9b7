import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inPool, writeDockerdRecord } from '../../helpers/harness-records.js';
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
  /** The --default-address-pool base of this daemon (a /20 of 198.18.0.0/16). */
  pool: string;
  logFile: string;
  stop(): Promise<void>;
  /**
   * Stops the daemon (SIGTERM: it stops every container, as a host's `systemctl restart docker`
   * without live-restore does) and starts it again with the same roots and options.
   * Returns how long the daemon took to stop, and to answer again.
   */
  restart(): Promise<{ stopSeconds: number; startSeconds: number }>;
}

/** Refuses a run aimed at a daemon the harness did not start. */
export function assertNoForeignDaemon(): void {
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix:///tmp/hm-e2e-')) {
    throw new Error(`DOCKER_HOST is ${host}: the e2e harness only talks to the dockerd it starts itself; unset DOCKER_HOST to run it.`);
  }
}

/** Claims of /20 slices, one file per slice naming the process that holds it (tmpfs: gone with a reboot). */
const POOL_CLAIMS = '/run/healthmate-test-pools';

/** Claims `slice` for this process; a claim whose process is gone is taken over. */
function claimSlice(slice: number, claims: string): boolean {
  mkdirSync(claims, { recursive: true });
  const file = join(claims, String(slice));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      const owner = Number(existsSync(file) ? readFileSync(file, 'utf8') : 0);
      if (owner === process.pid || (owner > 0 && isAlive(owner))) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

/** Gives back slices addressPools() claimed, once their daemons and bridges are gone. */
export function releasePools(pools: string[], claims = POOL_CLAIMS): void {
  for (const pool of pools) {
    const file = join(claims, String(Number(pool.split('.')[2]) / 16));
    if (existsSync(file) && Number(readFileSync(file, 'utf8')) === process.pid) rmSync(file, { force: true });
  }
}

/**
 * Each daemon takes a /20 of 198.18.0.0/16 for its /24 networks, so two private daemons (two
 * vitest workers, another suite) never route the same subnet through two bridges, nor remove
 * each other's bridges at stop. A slice is taken when a route on this host uses it, or when a
 * live process claimed it (a daemon has no route before its first network). The `count`
 * slices returned are distinct (the daemons of several hosts at once); releasePools gives
 * them back.
 */
export function addressPools(count: number, claims = POOL_CLAIMS): string[] {
  const routes = spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const routed = new Set([...routes.matchAll(/^198\.18\.(\d+)\./gm)].map((m) => Math.floor(Number(m[1]) / 16)));
  const candidates = [...Array(16).keys()].filter((slice) => !routed.has(slice)).sort(() => Math.random() - 0.5);
  const slices: number[] = [];
  for (const slice of candidates) if (slices.length < count && claimSlice(slice, claims)) slices.push(slice);
  if (slices.length < count) {
    releasePools(
      slices.map((slice) => `198.18.${slice * 16}.0/20`),
      claims,
    );
    throw new Error(`no free /20 of 198.18.0.0/16 for ${count} private Docker daemon(s): other daemons hold the rest (${claims}).`);
  }
  return slices.map((slice) => `198.18.${slice * 16}.0/20`);
}

/** Where a private daemon keeps its state, its socket and its log. */
export interface EngineLayout {
  dataRoot: string;
  execRoot: string;
  pidFile: string;
  socket: string;
  logFile: string;
}

/**
 * On this machine's own network a daemon never touches the firewall or forwarding, and
 * published ports bind to loopback unless a compose file names an address: nothing is
 * reachable from outside.
 */
const LOOPBACK_ONLY = ['--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--ip=127.0.0.1'];

/** The options of every private daemon; `network` says how it treats the network it runs in. */
export function dockerdArgs(layout: EngineLayout, pool: string, network: string[] = LOOPBACK_ONLY): string[] {
  return [
    `--data-root=${layout.dataRoot}`,
    `--exec-root=${layout.execRoot}`,
    `--pidfile=${layout.pidFile}`,
    `-H=unix://${layout.socket}`,
    ...network,
    // No default bridge: docker0 would clash with another daemon on this host.
    '--bridge=none',
    `--default-address-pool=base=${pool},size=24`,
    '--storage-driver=overlay2',
    // Containers get this long to stop when the daemon shuts down (cleanup, Ctrl-C).
    '--shutdown-timeout=10',
    '--log-driver=json-file',
  ];
}

/** Environment for docker, docker-compose and the scripts against one engine (the legacy builder builds FROM a local image, no registry). */
export function engineEnv(dockerHost: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, DOCKER_HOST: dockerHost, DOCKER_BUILDKIT: '0' };
}

/**
 * Waits until the engine `env` names answers (dockerd answers only after it has restarted
 * every container with a restart policy), then checks that it is the daemon with this
 * layout's data root, not another one listening at that address.
 */
export async function waitForEngine(env: NodeJS.ProcessEnv, layout: EngineLayout, exited: () => boolean): Promise<void> {
  await waitFor(
    `the private dockerd at ${env.DOCKER_HOST} to answer`,
    () => {
      if (exited()) throw new Error('dockerd exited at start');
      return spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, encoding: 'utf8', timeout: 30_000 }).status === 0;
    },
    120_000,
    250,
  ).catch((error) => {
    throw new Error(`${error}:\n${tail(layout.logFile)}`);
  });
  const root = (spawnSync('docker', ['info', '--format', '{{.DockerRootDir}}'], { env, encoding: 'utf8', timeout: 30_000 }).stdout ?? '').trim();
  if (root !== layout.dataRoot) throw new Error(`docker at ${env.DOCKER_HOST} reports root ${root}, not ${layout.dataRoot}: refusing to use it.`);
}

/**
 * Runs `stopSync` at process exit and on SIGINT/SIGTERM (then dies of the same signal, as if
 * the harness had not been there). Returns the function that takes it back.
 */
export function onProcessEnd(stopSync: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    stopSync();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', stopSync);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', stopSync);
  };
}

export async function startDockerd(): Promise<Dockerd> {
  assertNoForeignDaemon();
  const dockerdPath = needTool('dockerd');
  needTool('docker');
  // Short path: a unix socket path must stay under 108 bytes.
  const root = mkdtempSync('/tmp/hm-e2e-');
  const layout: EngineLayout = {
    dataRoot: join(root, 'data'),
    execRoot: join(root, 'exec'),
    pidFile: join(root, 'dockerd.pid'),
    socket: join(root, 'docker.sock'),
    logFile: join(root, 'dockerd.log'),
  };
  const { logFile } = layout;
  const host = `unix://${layout.socket}`;
  mkdirSync(layout.dataRoot);
  mkdirSync(layout.execRoot);
  const [pool] = addressPools(1) as [string];
  const args = dockerdArgs(layout, pool);
  let child: ChildProcess;
  let exited = false;
  const spawnDaemon = (): void => {
    const out = openSync(logFile, 'a');
    const current = spawn(dockerdPath, args, { stdio: ['ignore', out, out], detached: true });
    child = current;
    exited = false;
    // The run's teardown (test/leftovers.ts) checks what this daemon leaves behind, and only that.
    writeDockerdRecord({ pid: current.pid ?? 0, root, pool });
    // After a restart the old daemon's exit arrives late: it must not mark the new one as gone.
    current.on('exit', () => {
      if (child === current) exited = true;
    });
    // The daemon must not keep the test process alive; stopSync ends it.
    current.unref();
  };
  spawnDaemon();
  const env = engineEnv(host);

  let stopped = false;
  let lastStopSeconds = 0;
  /**
   * SIGTERM: dockerd stops every container and its containerd. Its shutdown takes up to the longest
   * stop timeout of a container + 5 s (PostgreSQL's 60 s stop_grace_period: 65 s), so it gets 120 s,
   * as systemd's 90 s would; killing it earlier left shims behind that stalled the next start.
   */
  const terminate = (): void => {
    if (exited || !child.pid) return;
    const started = Date.now();
    process.kill(child.pid, 'SIGTERM');
    const deadline = started + 120_000;
    while (isAlive(child.pid) && Date.now() < deadline) spawnSync('sleep', ['0.2']);
    if (isAlive(child.pid)) {
      console.warn(`the private dockerd did not stop within 120 s; killing it:\n${tail(logFile)}`);
      process.kill(-child.pid, 'SIGKILL');
    }
    lastStopSeconds = (Date.now() - started) / 1000;
  };
  /** Synchronous, so it also works from a signal handler or at process exit. */
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    unregister();
    writeDockerdRecord({ pid: child.pid ?? 0, root, pool, bridges: bridgesOf(env) });
    terminate();
    // Containers' overlay mounts and netns files can outlive the daemon; unmount before removing.
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
    removeBridgesIn(pool);
    releasePools([pool]);
  };
  const unregister = onProcessEnd(stopSync);
  const stop = async (): Promise<void> => stopSync();
  const answers = (): Promise<void> => waitForEngine(env, layout, () => exited);
  const restart = async (): Promise<{ stopSeconds: number; startSeconds: number }> => {
    if (stopped) throw new Error('the private dockerd was stopped; it cannot restart.');
    terminate();
    const started = Date.now();
    spawnDaemon();
    await answers();
    return { stopSeconds: lastStopSeconds, startSeconds: (Date.now() - started) / 1000 };
  };

  try {
    await answers();
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, env, root, pool, logFile, stop, restart };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by us) counts as gone.
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat !== '' && !/^\d+ \([^)]*\) Z/.test(stat);
}

/** The Linux bridges of the daemon's networks (named br-<first 12 characters of the network ID>); undefined when it does not answer. */
function bridgesOf(env: NodeJS.ProcessEnv): string[] | undefined {
  const listing = spawnSync('docker', ['network', 'ls', '-q', '--no-trunc', '--filter', 'driver=bridge'], { env, encoding: 'utf8', timeout: 60_000 });
  // A daemon that does not answer lists nothing: the teardown then goes by its pool.
  if (listing.status !== 0) return undefined;
  return listing.stdout
    .split('\n')
    .filter(Boolean)
    .map((id) => `br-${id.slice(0, 12)}`);
}

export function tail(file: string, lines = 30): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';
}

/**
 * Bridges the daemon leaves behind: a network whose removal failed (a CI run after a daemon
 * restart kept one) stays as a Linux bridge once the daemon is gone. Every address in this
 * daemon's /20 is its own (the slice had no route when it started), so its bridges go too.
 */
function removeBridgesIn(pool: string): void {
  const listing = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (const [, name, address] of listing.matchAll(/^\d+: (br-\S+)\s+inet (\S+)/gm)) {
    if (inPool(address as string, pool)) {
      console.warn(`removing bridge ${name}, left by the private dockerd (a network it did not remove)`);
      spawnSync('ip', ['link', 'delete', name as string]);
    }
  }
}

function unmountUnder(root: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) spawnSync('umount', ['-l', point]);
}
