import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeHostsRecord } from '../../helpers/harness-records.js';
import { waitFor } from '../../helpers/net.js';
import { REPO } from '../../helpers/run.js';
import { sshClientOptions, sshdOptions, sshKeygen } from '../../helpers/sshd.js';
import { needTool } from '../../helpers/tools.js';
import { type HostCgroup, hostCgroup } from './cgroup.js';
import type { Engine } from './docker.js';
import { addressPools, assertNoForeignDaemon, dockerdArgs, type EngineLayout, engineEnv, onProcessEnd, releasePools, tail, waitForEngine } from './dockerd.js';
import { createSwitch, type Plug, plug, removeSwitch, routePool, type Switch, setLink, unplug } from './hostnet.js';

/**
 * Several hosts on this machine, each as a production host looks to the deploy: its own
 * network namespace and address (hostnet.ts), its own dockerd and OpenSSH server inside
 * it, its own hostname and disk, and nothing but ssh between it and the operator (this
 * test process). The deploy reaches an engine with DOCKER_HOST=ssh://root@<address>.
 *
 * A host's processes share a mount namespace held by a `sleep` (its "init"), in which
 * - the operator's folder (`operatorDir`) is covered by the host's own disk folder: the
 *   operator's files reach a host only the way they do in production, over ssh, at the same
 *   absolute path (the deploy copies STATE_DIR there), and each host keeps what it got;
 * - the host's run folder (dockerd's exec root and pid files) is a tmpfs, empty after each boot.
 * Every process of a host (init, sshd, dockerd, containerd, shims, containers) is in one
 * cgroup subtree (cgroup.ts), so losing the host is one kill.
 */
export interface Host {
  name: string;
  /** Where the other hosts and the operator reach this host (198.19.x.y). */
  address: string;
  /** ssh://root@<address>: the engine as the deploy names it (DOCKER_HOST, HOST_<NAME>=engine=…). */
  engine: string;
  /** docker, docker-compose and the scripts against this host through ssh, as from the operator's machine. */
  env: NodeJS.ProcessEnv;
  /** The same engine through its unix socket: for the harness's own bulk work (image loads, probes). */
  local: Engine;
  /** dockerd's data root (what `docker info` reports for this host). */
  dataRoot: string;
  /** The /20 of 198.18.0.0/16 this host's dockerd takes its networks from. */
  pool: string;
  /** 'up', or how it was lost. */
  state: 'up' | 'killed' | 'cut';
}

/** How a host is lost: `kill` = power cut (every process SIGKILLed, its network stack gone); `cut` = its link down, the host runs on. */
export type Loss = 'kill' | 'cut';

export interface Hosts {
  hosts: Host[];
  /** The operator's working folder: on every host this same path is that host's own disk (empty at first). */
  operatorDir: string;
  /** Environment for the operator's tools: PATH leads to an `ssh` that knows the hosts' keys; no DOCKER_HOST. */
  operatorEnv: NodeJS.ProcessEnv;
  /** The ssh_config the operator's `ssh` uses (keys, known_hosts). */
  sshConfig: string;
  /** What the run created, for leftover checks: temp folder, bridge, namespaces, root-side links, cgroups. */
  made: { root: string; bridge: string; netns: string[]; links: string[]; cgroups: string[] };
  /** Runs argv on the host (its network, hostname and disk), as its own console would; not while it is killed. */
  onHost(host: Host, argv: string[], input?: string): SpawnSyncReturns<string>;
  /** Every process of the host: its init, sshd, dockerd and what that started, its containers' processes. */
  pids(host: Host): number[];
  loseHost(host: Host, how: Loss): Promise<void>;
  /** Undoes the loss: link up, or a boot (fresh network stack, same disk, same daemon roots: restart policies apply). */
  restoreHost(host: Host): Promise<void>;
  /** Kills every host, removes namespaces, links, cgroups and folders. Also runs at exit and on SIGINT/SIGTERM. */
  stop(): Promise<void>;
}

export interface HostsOptions {
  /** Host names (hostnames, folders); default a, b, c, … */
  names?: string[];
  /**
   * Names the hosts' DNS resolves, each to a host (by its name): a DNS server on the
   * operator's address (dns.ts) becomes every host's resolver (its /etc/resolv.conf), as a
   * private network's resolver would be. Every other name gets NXDOMAIN at once.
   */
  dns?: Record<string, string>;
}

/** One host's fixed parts; `holder` is the pid of its current boot's init. */
interface Machine {
  host: Host;
  plug: Plug;
  cgroup: HostCgroup;
  layout: EngineLayout;
  dir: string;
  disk: string;
  run: string;
  sshdConfig: string;
  holder: number;
  /** The resolv.conf its init mounts over /etc/resolv.conf (the hosts' DNS), if any. */
  resolvConf?: string;
  /** dockerd of the current boot, to notice it dying at start. */
  dockerd?: ChildProcess;
}

const hostNetns = (id: string, name: string): string => `hm-e2e-${id}-${name}`;
const hostLink = (id: string, index: number): string => `hm-${id}-${index}`;

const HOLDER =
  'hostname "$1" && mount --bind "$2" "$3" && mount -t tmpfs -o mode=0755 tmpfs "$4" && { [ -z "$5" ] || mount --bind "$5" /etc/resolv.conf; } && exec sleep infinity';

export async function startHosts(count: number, options: HostsOptions = {}): Promise<Hosts> {
  assertNoForeignDaemon();
  if (process.getuid?.() !== 0) throw new Error('the e2e hosts need root (network namespaces, mounts, cgroups): run the e2e suite as root.');
  for (const tool of ['ip', 'nsenter', 'unshare', 'iptables', 'sshd', 'ssh', 'dockerd', 'docker', 'docker-compose']) needTool(tool);
  assertComposeSsh();
  const names = options.names ?? [...'abcdefghij'].slice(0, count);
  if (names.length !== count || new Set(names).size !== count || names.some((name) => !/^[a-z][a-z0-9]{0,7}$/.test(name))) {
    throw new Error(`host names ${names.join(', ')}: give ${count} distinct names of 1-8 lowercase letters and digits.`);
  }
  // Short: unix socket paths (docker.sock, containerd's) must stay under 108 bytes.
  const root = mkdtempSync('/tmp/hm-e2e-');
  const id = basename(root).slice('hm-e2e-'.length);
  const made: Hosts['made'] = { root, bridge: `hm-${id}`, netns: [], links: [], cgroups: [] };
  // The run's teardown (test/leftovers.ts) checks what these hosts leave behind, and only that.
  writeHostsRecord({
    root,
    bridge: made.bridge,
    netns: names.map((name) => hostNetns(id, name)),
    links: names.map((_, index) => hostLink(id, index)),
  });
  const machines: Machine[] = [];
  let sw: Switch | undefined;
  let dns: ChildProcess | undefined;
  let pools: string[] = [];
  let stopped = false;

  /** Synchronous, so it also works from a signal handler or at process exit. */
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    unregister();
    const problems: string[] = [];
    for (const machine of machines) {
      try {
        machine.cgroup.killAll();
        machine.cgroup.remove();
      } catch (error) {
        problems.push(String(error));
      }
      unplug(machine.plug);
    }
    dns?.kill('SIGKILL');
    if (sw) removeSwitch(sw);
    releasePools(pools);
    // Only processes of the hosts' mount namespaces mounted anything below root; they are gone with them.
    // The hosts' image stores go in parallel: on this disk a delete waits on the device, not the CPU (3 in 10 s, not 60).
    spawnSync('sh', ['-c', 'for dir; do rm -rf -- "$dir" & done; wait', 'sh', ...machines.map((machine) => machine.dir)]);
    rmSync(root, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`stopping the e2e hosts: ${problems.join('; ')}`);
  };
  const unregister = onProcessEnd(stopSync);

  try {
    sw = createSwitch(made.bridge);
    const operatorDir = join(root, 'operator');
    const ssh = operatorSsh(join(root, 'ssh'));
    mkdirSync(operatorDir);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    pools = addressPools(count);
    for (const [index, name] of names.entries()) {
      const address = `${sw.prefix}.${11 + index}`;
      const dir = join(root, name);
      const pool = pools[index] as string;
      const engine = `ssh://root@${address}`;
      const layout: EngineLayout = {
        dataRoot: join(dir, 'engine', 'data'),
        execRoot: join(dir, 'run', 'docker'),
        pidFile: join(dir, 'run', 'dockerd.pid'),
        socket: join(dir, 'engine', 'docker.sock'),
        logFile: join(dir, 'engine', 'dockerd.log'),
      };
      const machine: Machine = {
        host: {
          name,
          address,
          engine,
          env: engineEnv(engine, ssh.env),
          local: { env: engineEnv(`unix://${layout.socket}`) },
          dataRoot: layout.dataRoot,
          pool,
          state: 'up',
        },
        plug: { netns: hostNetns(id, name), link: hostLink(id, index), address },
        cgroup: hostCgroup(`hm-e2e-${id}-${name}`),
        layout,
        dir,
        disk: join(dir, 'disk'),
        run: join(dir, 'run'),
        sshdConfig: join(dir, 'ssh', 'sshd_config'),
        holder: 0,
      };
      machines.push(machine);
      made.netns.push(machine.plug.netns);
      made.links.push(machine.plug.link);
      made.cgroups.push(`hm-e2e-${id}-${name}`);
      for (const folder of [machine.disk, machine.run, join(dir, 'engine', 'data'), join(dir, 'ssh')]) mkdirSync(folder, { recursive: true });
      sshKeygen(join(dir, 'ssh', 'host_ed25519'));
      writeFileSync(
        machine.sshdConfig,
        [
          `ListenAddress ${address}:22`,
          ...sshdOptions(
            { hostKey: join(dir, 'ssh', 'host_ed25519'), pidFile: join(machine.run, 'sshd.pid'), authorizedKeys: ssh.authorizedKeys },
            // `docker system dial-stdio` (docker's and docker-compose's ssh transport) must reach this host's daemon.
            [`DOCKER_HOST=unix://${layout.socket}`],
          ),
          '',
        ].join('\n'),
      );
      ssh.trust(address, readFileSync(join(dir, 'ssh', 'host_ed25519.pub'), 'utf8'));
      plug(sw, machine.plug);
      routePool(sw, pool, address);
    }
    if (options.dns) {
      const resolvConf = join(root, 'resolv.conf');
      writeFileSync(resolvConf, `nameserver ${sw.prefix}.1\noptions timeout:1 attempts:2\n`);
      dns = await startDns(`${sw.prefix}.1`, options.dns, machines);
      for (const machine of machines) machine.resolvConf = resolvConf;
    }
    // Boots run one after another: each dockerd start is a burst of work on two cores.
    for (const machine of machines) await boot(machine, operatorDir, ssh.env);
    const byName = (host: Host): Machine => {
      const machine = machines.find((m) => m.host === host);
      if (!machine) throw new Error(`host ${host.name} is not one of these hosts.`);
      return machine;
    };
    return {
      hosts: machines.map((m) => m.host),
      operatorDir,
      operatorEnv: ssh.env,
      sshConfig: ssh.config,
      made,
      onHost: (host, argv, input) => {
        const machine = byName(host);
        if (host.state === 'killed') throw new Error(`host ${host.name} is killed: nothing runs on it until restoreHost.`);
        return spawnSync('nsenter', [`--target=${machine.holder}`, '--mount', '--uts', '--net', '--', ...argv], { encoding: 'utf8', input, timeout: 60_000 });
      },
      pids: (host) => byName(host).cgroup.pids(),
      loseHost: async (host, how) => {
        const machine = byName(host);
        if (host.state !== 'up') throw new Error(`host ${host.name} is already lost (${host.state}).`);
        if (how === 'cut') setLink(machine.plug, false);
        else {
          machine.cgroup.killAll();
          unplug(machine.plug);
        }
        host.state = how === 'cut' ? 'cut' : 'killed';
      },
      restoreHost: async (host) => {
        const machine = byName(host);
        if (host.state === 'cut') setLink(machine.plug, true);
        if (host.state === 'killed') {
          plug(sw as Switch, machine.plug);
          await boot(machine, operatorDir, ssh.env);
        }
        host.state = 'up';
      },
      stop: async () => stopSync(),
    };
  } catch (error) {
    try {
      stopSync();
    } catch (cleanup) {
      console.warn(String(cleanup));
    }
    throw error;
  }
}

/**
 * One boot of a host: its init (namespaces, hostname, disk, tmpfs run folder), then sshd and
 * dockerd inside them and its cgroup. Returns once dockerd answers (after it restarted the
 * containers with a restart policy) and sshd lets the operator in.
 */
async function boot(machine: Machine, operatorDir: string, operatorEnv: NodeJS.ProcessEnv): Promise<void> {
  const { host, cgroup, layout } = machine;
  const log = openSync(join(machine.dir, 'host.log'), 'a');
  const start = (argv: string[], out = log): ChildProcess => {
    const [command, ...args] = cgroup.enter(argv);
    const child = spawn(command as string, args, { stdio: ['ignore', out, out], detached: true });
    // The host must not keep the test process alive; stop() ends it.
    child.unref();
    return child;
  };
  const init = start([
    'nsenter',
    `--net=/run/netns/${machine.plug.netns}`,
    '--',
    'unshare',
    '--mount',
    '--uts',
    '--propagation',
    'slave',
    '--',
    'sh',
    '-c',
    HOLDER,
    'init',
    host.name,
    machine.disk,
    operatorDir,
    machine.run,
    machine.resolvConf ?? '',
  ]);
  machine.holder = init.pid as number;
  await waitFor(
    `the init of host ${host.name}`,
    () => {
      if (init.exitCode !== null) throw new Error(`the init of host ${host.name} exited (${init.exitCode}): ${tail(join(machine.dir, 'host.log'), 5)}`);
      return readFileSync(`/proc/${machine.holder}/comm`, 'utf8').trim() === 'sleep';
    },
    30_000,
    50,
  );
  const inside = (argv: string[]): string[] => ['nsenter', `--target=${machine.holder}`, '--mount', '--uts', '--net', '--', ...argv];
  const sshd = start(inside([needTool('sshd'), '-D', '-e', '-f', machine.sshdConfig]));
  const dockerdLog = openSync(layout.logFile, 'a');
  machine.dockerd = start(inside([needTool('dockerd'), ...hostDockerdArgs(machine)]), dockerdLog);
  // The children hold their own copies.
  closeSync(log);
  closeSync(dockerdLog);
  const dockerd = machine.dockerd;
  await waitForEngine(host.local.env, layout, () => dockerd.exitCode !== null);
  await waitFor(
    `sshd of host ${host.name} on ${host.address}:22`,
    () => {
      if (sshd.exitCode !== null) throw new Error(`sshd of host ${host.name} exited: ${tail(join(machine.dir, 'host.log'), 5)}`);
      // A login and the SFTP subsystem (internal-sftp): no login shell, whose setup could block the probe.
      // -S ssh: the operator's ssh on PATH (its config and keys), not the one sftp was built with.
      return spawnSync('sftp', ['-S', 'ssh', '-b', '-', `root@${host.address}`], { env: operatorEnv, input: '', timeout: 60_000 }).status === 0;
    },
    60_000,
    200,
  );
}

/** dns.ts on the operator's address, its records naming hosts; resolves once it listens. */
async function startDns(listen: string, records: Record<string, string>, machines: Machine[]): Promise<ChildProcess> {
  const args = Object.entries(records).flatMap(([name, hostName]) => {
    const machine = machines.find((m) => m.host.name === hostName);
    if (!machine) throw new Error(`dns: ${name} names host ${hostName}, which is not one of these hosts.`);
    return ['--record', `${name}=${machine.host.address}`];
  });
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'dns.ts'), '--listen', listen, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: REPO,
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('listening')) resolve();
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', (code) => reject(new Error(`the hosts' DNS server on ${listen} exited (${code}): ${output.trim()}`)));
  });
  // It must not keep the test process alive; stop() ends it, and it exits when its stdin closes.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/**
 * dockerd.ts's daemon, but as on a production host: the namespace is the machine, so the daemon
 * manages the namespace's own firewall and forwarding (NAT of container traffic to the host's
 * address, published ports by DNAT; the root namespace's tables are never touched) and publishes
 * on every address of its host by default. Its containers' cgroups go under the host's.
 */
function hostDockerdArgs(machine: Machine): string[] {
  return [...dockerdArgs(machine.layout, machine.host.pool, ['--ip6tables=false']), `--cgroup-parent=${machine.cgroup.containerParent}`];
}

/**
 * The operator's ssh: one key for root on every host, their host keys in known_hosts, and a
 * `ssh` first on PATH that reads this config (docker and docker-compose run `ssh` from PATH;
 * OpenSSH reads ~/.ssh from the passwd entry, not $HOME, so a wrapper is the way in).
 */
function operatorSsh(dir: string): {
  env: NodeJS.ProcessEnv;
  config: string;
  authorizedKeys: string;
  trust(address: string, hostKey: string): void;
} {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  chmodSync(dir, 0o700);
  const keyFile = join(dir, 'operator_ed25519');
  sshKeygen(keyFile);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${keyFile}.pub`), { mode: 0o600 });
  const knownHosts = join(dir, 'known_hosts');
  const config = join(dir, 'ssh_config');
  const addresses: string[] = [];
  const trust = (address: string, hostKey: string): void => {
    addresses.push(address);
    writeFileSync(knownHosts, `${address} ${hostKey.trim()}\n`, { flag: 'a' });
    writeFileSync(
      config,
      [
        `Host ${addresses.join(' ')}`,
        ...sshClientOptions(keyFile, knownHosts),
        // A lost host fails a new session in 5 s and a running one within 15 s, as from a laptop with these settings
        // (the docker CLI passes its own -o ConnectTimeout=30, which wins: 30-46 s for docker against a cut host).
        '  ConnectTimeout 5',
        '  ServerAliveInterval 5',
        '  ServerAliveCountMax 3',
        '',
      ].join('\n'),
    );
  };
  const wrapper = join(dir, 'bin', 'ssh');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${needTool('ssh')} -F ${config} "$@"\n`, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  delete env.DOCKER_HOST;
  // docker-compose's paramiko mode reads only ~/.ssh/config: the harness's keys would not be used.
  delete env.COMPOSE_PARAMIKO_SSH;
  return { env, config, authorizedKeys, trust };
}

/**
 * docker-compose 1.29 runs the `ssh` client for an ssh:// engine (unless COMPOSE_PARAMIKO_SSH=1),
 * but its Docker SDK imports paramiko for every ssh:// URL: without python3-paramiko it stops
 * with "Install paramiko package to enable ssh:// support".
 */
function assertComposeSsh(): void {
  const compose = needTool('docker-compose');
  const interpreter =
    readFileSync(compose, 'utf8')
      .split('\n')[0]
      ?.replace(/^#!\s*/, '')
      .split(/\s+/)[0] ?? '';
  if (!existsSync(interpreter)) return;
  if (spawnSync(interpreter, ['-c', 'import paramiko'], { encoding: 'utf8' }).status !== 0) {
    throw new Error('python3-paramiko is not installed: docker-compose 1.29 needs it for DOCKER_HOST=ssh://; run `npm run setup` (.ci/apt-packages.txt).');
  }
}
