import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { afterAll, afterEach } from 'vitest';
import { applyClusterCerts, clusterCertRequest, planClusterCerts } from '../../scripts/lib/certs/cluster.js';
import type { CommandResult, CommandRunner } from '../../scripts/lib/cluster/commands.js';
import { CLUSTER_CONTAINER_PATHS } from '../../scripts/lib/cluster/topology.js';
import { dbHosts, type InventoryHost } from '../../scripts/lib/env/inventory.js';
import { type LoadedEnv, loadEnv } from '../../scripts/lib/env/load.js';
import { CLUSTER_TLS_FILES, clusterCaDir, clusterTlsDir, statePaths } from '../../scripts/lib/paths.js';
import { PGBACKREST_CONTAINER_PATHS } from '../../scripts/lib/pgbackrest/layout.js';
import { planBundle } from '../../scripts/lib/render/bundle.js';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { REPO, runScript, SCRIPT_TIMEOUT_MS } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

/**
 * A PostgreSQL cluster of real etcd, Patroni and PostgreSQL 15 processes on
 * loopback addresses (Linux routes all of 127/8 to lo), from the configs the
 * repo renders for an inventory of those addresses. The only changes to a
 * rendered file are the container paths (data, sockets, certificates, secret
 * files, configs) mapped to folders of the test, and the container's 0.0.0.0
 * listen address mapped to the member's own address: three members share one
 * machine and the same ports, as they would on three hosts.
 *
 * A host without an address (the one-host default) names its peers by compose
 * service name: its processes run in a private mount namespace whose /etc/hosts
 * maps `etcd` and `postgres` to its loopback address.
 */
export const PG_BIN = CLUSTER_CONTAINER_PATHS.PATRONI_PG_BIN_DIR;
const PASSWORDS = {
  POSTGRES_PASSWORD: 'Ha-Superuser-Password-7c1e',
  POSTGRES_REPLICATION_PASSWORD: 'Ha-Replication-Password-2b9d',
  POSTGRES_REWIND_PASSWORD: 'Ha-Rewind-Password-5a0f',
  CLUSTER_API_PASSWORD: 'Ha-Api-Password-9e3c',
};
/** Patroni's timing in the native tests: a short loop for the runtime (ttl ≥ loop_wait + 2 × retry_timeout holds). */
export const FAST_TIMING = { PATRONI_TTL: '10', PATRONI_LOOP_WAIT: '2', PATRONI_RETRY_TIMEOUT: '4' };
/** Between two looks at a cheap probe (Patroni's REST API, a psql, an etcdctl): a wait ends at most this long after its condition holds. */
export const POLL_MS = 250;
export const SUPERUSER = { user: 'healthmate_user', password: PASSWORDS.POSTGRES_PASSWORD, database: 'healthmate' };

export interface NativeHost {
  name: string;
  /** The inventory address; none for the one-host default. */
  address?: string;
  /** Where its processes listen natively (the address, or a loopback address of its own). */
  listen: string;
}

export interface Member {
  name: string;
  listen: string;
  /** The name its certificate carries for Patroni: the address, or the compose service name. */
  endpoint: string;
  dir: string;
  patroniConfig: string;
  etcdConfig: string;
  dataDir: string;
  socketDir: string;
  /** The environment run.sh and Patroni get (secrets folder, home for the pgpass file). */
  env: Record<string, string>;
  /** /etc/hosts for a member without an address (compose service names). */
  hosts?: string;
  etcd?: ChildProcess;
  patroni?: ChildProcess;
}

export interface NativeCluster {
  root: string;
  env: LoadedEnv;
  /** The HOST_ lines and the other --set values the env was loaded with. */
  hostLines: Record<string, string>;
  overrides: Record<string, string>;
  members: Member[];
  ports: { etcdClient: number; etcdPeer: number; etcdMetrics: number; patroniApi: number; haproxyWrite: number; haproxyRead: number; haproxyStats: number };
  caFile: string;
  haproxyConfig: string;
  /** The rendered etcd/patroni/haproxy texts as render wrote them, per member (before any mapping). */
  rendered: Map<string, Record<string, string>>;
}

const children: ChildProcess[] = [];
const roots: string[] = [];

/** Counts a process the test started among those destroyCluster stops. */
export function track(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

function logFile(dir: string, name: string): number {
  return openSync(join(dir, `${name}.log`), 'a');
}

/** Starts argv detached (own process group), output to <dir>/<name>.log. */
export function start(argv: string[], dir: string, name: string, env: Record<string, string> = {}): ChildProcess {
  const out = logFile(dir, name);
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env } });
  closeSync(out);
  children.push(child);
  return child;
}

/** argv in the member's mount namespace (when it has a hosts file) as the given user (setpriv execs: the pid stays the program's). */
function wrap(member: Member, argv: string[], user?: string): string[] {
  const asUser = user ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--'] : [];
  const withEnv = ['env', ...Object.entries(member.env).map(([k, v]) => `${k}=${v}`), ...argv];
  if (!member.hosts) return [...asUser, ...withEnv];
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', member.hosts, ...asUser, ...withEnv];
}

export function startEtcd(member: Member): void {
  member.etcd = start(wrap(member, ['etcd', '--config-file', member.etcdConfig]), member.dir, 'etcd');
}

export function startPatroni(member: Member): void {
  member.patroni = start(wrap(member, [join(member.dir, 'patroni', 'run.sh'), 'patroni', member.patroniConfig], 'postgres'), member.dir, 'patroni');
}

/** A command run in the member's environment, as postgres by default (run.sh: patronictl gets the REST password from the secret files). */
export function memberCommand(member: Member, argv: string[], user: 'postgres' | 'root' = 'postgres', timeoutMs = SCRIPT_TIMEOUT_MS): CommandResult {
  const full = wrap(member, argv, user === 'root' ? undefined : user);
  const result = spawnSync(full[0] as string, full.slice(1), { encoding: 'utf8', timeout: timeoutMs });
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

export function postmasterPid(member: Member): number | undefined {
  const file = join(member.dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A member's etcd certificate (the one its etcd container mounts): the client certificate etcdctl presents. */
export function memberEtcdCert(cluster: NativeCluster, member: Member): { cert: string; key: string } {
  const dir = clusterTlsDir(statePaths(cluster.env), member.name, 'etcd');
  return { cert: join(dir, CLUSTER_TLS_FILES.cert), key: join(dir, CLUSTER_TLS_FILES.key) };
}

/** etcdctl's argv against a member's client port, with the project CA and a client certificate (the member's own by default). */
function etcdctlArgv(cluster: NativeCluster, member: Member, args: string[], cert = memberEtcdCert(cluster, member)): string[] {
  return [
    `--endpoints=https://${member.listen}:${cluster.ports.etcdClient}`,
    `--cacert=${cluster.caFile}`,
    `--cert=${cert.cert}`,
    `--key=${cert.key}`,
    '--dial-timeout=3s',
    ...args,
  ];
}

export function etcdctl(cluster: NativeCluster, member: Member, args: string[], cert = memberEtcdCert(cluster, member)) {
  return spawnSync('etcdctl', etcdctlArgv(cluster, member, args, cert), { encoding: 'utf8', timeout: 30_000 });
}

/** etcdctl without blocking the event loop: a test beside another (it.concurrent) keeps its polls going. */
export function etcdctlAsync(
  cluster: NativeCluster,
  member: Member,
  args: string[],
  cert = memberEtcdCert(cluster, member),
): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('etcdctl', etcdctlArgv(cluster, member, args, cert), { encoding: 'utf8', timeout: 30_000 }, (error, _stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr });
    });
  });
}

/** GET on a member's Patroni REST API over TLS, checked against the project CA. */
export function api(cluster: NativeCluster, member: Member, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: member.listen,
        port: cluster.ports.patroniApi,
        path,
        ca: readFileSync(cluster.caFile),
        // The certificate names the member's endpoint (its address, or `postgres` on one host), not the loopback address it listens on here.
        checkServerIdentity: (_host, cert) => checkServerIdentity(member.endpoint, cert),
        timeout: 5000,
        method: 'GET',
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface ClusterMemberState {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

/** Patroni's view of the cluster, from any member that answers. */
export async function clusterState(cluster: NativeCluster, members = cluster.members): Promise<ClusterMemberState[]> {
  for (const member of members) {
    try {
      const answer = await api(cluster, member, '/cluster');
      if (answer.status === 200) return (JSON.parse(answer.body) as { members: ClusterMemberState[] }).members;
    } catch {
      // try the next member
    }
  }
  throw new Error('no member answers /cluster');
}

export async function waitForRoles(
  cluster: NativeCluster,
  what: string,
  check: (members: ClusterMemberState[]) => boolean,
  timeoutMs = WAIT_BUDGET_MS,
): Promise<ClusterMemberState[]> {
  let last: ClusterMemberState[] = [];
  try {
    await waitFor(
      what,
      async () => {
        last = await clusterState(cluster);
        return check(last);
      },
      timeoutMs,
      POLL_MS,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
  return last;
}

export function leaderOf(members: ClusterMemberState[]): string | undefined {
  return members.find((m) => m.role === 'leader' && m.state === 'running')?.name;
}

/** psql as the superuser to `host:port` (TCP, password from the environment). */
export function psql(host: string, port: number, sql: string, database = SUPERUSER.database): { status: number; out: string; err: string } {
  const result = spawnSync(
    `${PG_BIN}/psql`,
    ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', SUPERUSER.user, '-d', database, '-c', sql],
    { encoding: 'utf8', env: { ...process.env, PGPASSWORD: SUPERUSER.password, PGCONNECT_TIMEOUT: '5' }, timeout: 30_000 },
  );
  return { status: result.status ?? 1, out: (result.stdout ?? '').trim(), err: result.stderr ?? '' };
}

/**
 * db-cluster.ts's runner here: "in service S's container on host X" becomes the
 * same argv run natively for member X, its container paths mapped like its
 * configs (etcdctl as root with the etcd certificate, patronictl as postgres).
 */
export function nativeRunner(cluster: NativeCluster): CommandRunner {
  return async (command) => {
    const member = cluster.members.find((m) => m.name === command.host.name);
    if (!member) return { status: 125, stdout: '', stderr: `no native member ${command.host.name}` };
    const tls = command.service === 'etcd' ? clusterTlsDir(statePaths(cluster.env), member.name, 'etcd') : join(member.dir, 'tls-postgres');
    return memberCommand(
      member,
      command.argv.map((arg) => nativeText(arg, member, tls)),
      command.service === 'postgres' ? 'postgres' : 'root',
    );
  };
}

/** Container path → this member's folder, and the container's 0.0.0.0 → its address: nothing else of the rendered text changes. */
function nativeText(text: string, member: Member, tlsDir: string): string {
  const paths: [string, string][] = [
    [CLUSTER_CONTAINER_PATHS.CLUSTER_TLS_PATH, tlsDir],
    [CLUSTER_CONTAINER_PATHS.PATRONI_CONFIG_PATH, join(member.dir, 'patroni')],
    [CLUSTER_CONTAINER_PATHS.ETCD_VOLUME_PATH, join(member.dir, 'etcd-data')],
    [PGBACKREST_CONTAINER_PATHS.PGBACKREST_PG_PATH, member.dataDir],
    [PGBACKREST_CONTAINER_PATHS.PGBACKREST_PG_SOCKET_PATH, member.socketDir],
  ];
  let out = text;
  for (const [from, to] of paths) out = out.split(from).join(to);
  return out.replace(/0\.0\.0\.0:/g, `${member.listen}:`);
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) chownSync(join(dir, entry), uid, gid);
}

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Renders the bundle for each host of the inventory (clusterValues: the per-host
 * values), issues the cluster certificates from a test CA made by
 * generate-certs.ts, and lays out one folder per member. Starts nothing.
 */
export async function nativeCluster(prefix: string, hosts: NativeHost[], settings: Record<string, string> = {}): Promise<NativeCluster> {
  for (const tool of ['etcd', 'etcdctl', 'patroni', 'patronictl', 'haproxy', 'setpriv', 'unshare']) needTool(tool);
  const root = mkdtempSync(join(tmpdir(), `healthmate-${prefix}-`));
  roots.push(root);
  chmodSync(root, 0o755);
  const state = join(root, 'state');
  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    etcdMetrics: await freePort(),
    patroniApi: await freePort(),
    haproxyWrite: await freePort(),
    haproxyRead: await freePort(),
    haproxyStats: await freePort(),
  };
  const hostLines = Object.fromEntries(hosts.flatMap((h) => (h.address ? [[hostVariable(h.name), hostLine(h.name, h.address)]] : [])));
  const overrides = {
    STATE_DIR: state,
    ...PASSWORDS,
    ETCD_CLIENT_PORT: String(ports.etcdClient),
    ETCD_PEER_PORT: String(ports.etcdPeer),
    ETCD_METRICS_PORT: String(ports.etcdMetrics),
    PATRONI_API_PORT: String(ports.patroniApi),
    HAPROXY_WRITE_PORT: String(ports.haproxyWrite),
    HAPROXY_READ_PORT: String(ports.haproxyRead),
    HAPROXY_STATS_PORT: String(ports.haproxyStats),
    ...settings,
  };
  const env = prodEnv(hostLines, overrides);
  const ca = runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--mode', 'ca']);
  if (ca.code !== 0) throw new Error(`generate-certs.ts --mode ca failed: ${ca.stderr}`);
  await applyClusterCerts(planClusterCerts(clusterCertRequest(env, { extraSans: [], bits: 2048, days: 30, force: false })));
  const cluster: NativeCluster = {
    root,
    env,
    hostLines,
    overrides,
    members: [],
    ports,
    caFile: join(clusterCaDir(statePaths(env)), CLUSTER_TLS_FILES.ca),
    haproxyConfig: join(root, 'haproxy.cfg'),
    rendered: new Map(),
  };
  for (const host of hosts) layoutMember(cluster, env, host);
  const haproxy = cluster.rendered.get(hosts[0]?.name as string)?.haproxy as string;
  writeFileSync(cluster.haproxyConfig, haproxy.split(CLUSTER_CONTAINER_PATHS.CLUSTER_TLS_PATH).join(clusterCaDir(statePaths(env))));
  return cluster;
}

/** One member's folder: its rendered configs, secret files, a copy of its Patroni certificate for the postgres user, owners. */
function layoutMember(cluster: NativeCluster, env: LoadedEnv, host: NativeHost): Member {
  const inventoryHost = dbHosts(env.inventory).find((h) => h.name === host.name);
  if (!inventoryHost) throw new Error(`host ${host.name} is not in the rendered inventory`);
  const paths = statePaths(env);
  const pg = postgresIds();
  const dir = join(cluster.root, host.name);
  const member: Member = {
    name: host.name,
    listen: host.listen,
    endpoint: host.address ?? 'postgres',
    dir,
    patroniConfig: join(dir, 'patroni', 'patroni.yml'),
    etcdConfig: join(dir, 'etcd.yml'),
    dataDir: join(dir, 'data'),
    socketDir: join(dir, 'sock'),
    env: {
      HEALTHMATE_SECRETS_DIR: join(dir, 'secrets'),
      // Patroni writes its pgpass file to $HOME: one per member.
      HOME: join(dir, 'home'),
      // archive_command and the pgbackrest replica method fail at once (no repository here); basebackup follows.
      PGBACKREST_CONFIG: join(dir, 'no-pgbackrest.conf'),
      PATH: process.env.PATH ?? '/usr/bin:/bin',
    },
  };
  for (const sub of ['patroni', 'sock', 'secrets', 'etcd-data']) mkdirSync(join(dir, sub), { recursive: true });
  const bundle = writeMemberConfigs(env, inventoryHost, member);
  const file = (path: string) => bundle.files.find((f) => f.path === path)?.content as string;
  cluster.rendered.set(host.name, { patroni: file('patroni/patroni.yml'), etcd: file('etcd/etcd.yml'), haproxy: file('haproxy/haproxy.cfg') });
  for (const f of bundle.files.filter((f) => f.path.startsWith('secrets/'))) writeFileSync(join(dir, f.path), f.content, { mode: 0o600 });
  // The container's key is root:999 0640; here the postgres user's uid differs, so Patroni's folder is its own copy.
  cpSync(clusterTlsDir(paths, host.name, 'postgres'), join(dir, 'tls-postgres'), { recursive: true });
  chmodSync(join(dir, 'tls-postgres', CLUSTER_TLS_FILES.key), 0o600);
  chmodSync(dir, 0o755);
  for (const sub of ['patroni', 'sock', 'secrets', 'tls-postgres']) chownTree(join(dir, sub), pg.uid, pg.gid);
  // The data folder's parent is the postgres user's in the image (the volume); here the folder itself.
  for (const own of ['home', 'data']) {
    mkdirSync(join(dir, own), { mode: 0o700 });
    chownSync(join(dir, own), pg.uid, pg.gid);
  }
  if (!host.address) {
    member.hosts = join(dir, 'hosts');
    writeFileSync(member.hosts, `127.0.0.1 localhost\n${host.listen} etcd postgres haproxy\n`);
  }
  cluster.members.push(member);
  return member;
}

/**
 * db hosts added to a running cluster (docs/ha.md, growing to three hosts): their
 * HOST_ lines appended to the inventory, their certificates issued, their configs
 * rendered with ETCD_INITIAL_CLUSTER_STATE=existing. Starts nothing.
 */
export async function addHosts(cluster: NativeCluster, hosts: (NativeHost & { address: string })[]): Promise<Member[]> {
  for (const host of hosts) cluster.hostLines[hostVariable(host.name)] = hostLine(host.name, host.address);
  const env = prodEnv(cluster.hostLines, { ...cluster.overrides, ETCD_INITIAL_CLUSTER_STATE: 'existing' });
  await applyClusterCerts(planClusterCerts(clusterCertRequest(env, { extraSans: [], bits: 2048, days: 30, force: false })));
  cluster.env = env;
  return hosts.map((host) => layoutMember(cluster, env, host));
}

const hostVariable = (name: string) => `HOST_${name.toUpperCase()}`;
const hostLine = (name: string, address: string) => `engine=ssh://deploy@${name}.test roles=db,app address=${address}`;
function prodEnv(hostLines: Record<string, string>, overrides: Record<string, string>): LoadedEnv {
  return loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan', processEnv: {}, overrides: { ...hostLines, ...overrides } });
}

/** Renders one host's bundle (its per-host values) and writes its Patroni files and etcd.yml, container paths mapped. */
function writeMemberConfigs(env: LoadedEnv, host: InventoryHost, member: Member) {
  const bundle = planBundle(env, undefined, (path) => /^(patroni|etcd|haproxy|secrets)\//.test(path), host);
  // Patroni's files as render wrote them (run.sh, post-bootstrap.sh), patroni.yml mapped.
  for (const f of bundle.files.filter((f) => f.path.startsWith('patroni/'))) {
    const target = join(member.dir, f.path);
    writeFileSync(target, f.path.endsWith('.yml') ? nativeText(f.content, member, join(member.dir, 'tls-postgres')) : f.content, { mode: f.mode });
  }
  const etcd = bundle.files.find((f) => f.path === 'etcd/etcd.yml')?.content as string;
  writeFileSync(member.etcdConfig, nativeText(etcd, member, clusterTlsDir(statePaths(env), host.name, 'etcd')));
  return bundle;
}

/**
 * A dead host replaced by a new machine of the same name and address: its data
 * folders empty, its configs rendered again from the inventory with its HOST_
 * line last and ETCD_INITIAL_CLUSTER_STATE=existing (docs/ha.md).
 */
export function replaceHost(cluster: NativeCluster, name: string): Member {
  const member = cluster.members.find((m) => m.name === name) as Member;
  const key = hostVariable(name);
  const { [key]: line, ...others } = cluster.hostLines;
  const env = prodEnv({ ...others, [key]: line as string }, { ...cluster.overrides, ETCD_INITIAL_CLUSTER_STATE: 'existing' });
  const host = dbHosts(env.inventory).find((h) => h.name === name) as InventoryHost;
  for (const sub of ['data', 'etcd-data']) rmSync(join(member.dir, sub), { recursive: true, force: true });
  mkdirSync(join(member.dir, 'etcd-data'));
  const pg = postgresIds();
  mkdirSync(member.dataDir, { mode: 0o700 });
  chownSync(member.dataDir, pg.uid, pg.gid);
  writeMemberConfigs(env, host, member);
  chownTree(join(member.dir, 'patroni'), pg.uid, pg.gid);
  return member;
}

/** The last lines of every log of the cluster's members, for a failed test's report. */
export function logTails(cluster: NativeCluster | undefined, lines = 25): string {
  if (!cluster) return '';
  const out: string[] = [];
  for (const dir of [cluster.root, ...cluster.members.map((m) => m.dir)]) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
      const text = readFileSync(join(dir, file), 'utf8').trimEnd().split('\n');
      out.push(`==> ${join(dir, file)} <==`, ...text.slice(-lines));
    }
  }
  return out.join('\n');
}

/**
 * Stops the file's cluster after its tests, even when one failed (then every
 * member's log tail is printed first); `report` prints the file's figures.
 */
export function tearDownAfterAll(current: () => NativeCluster | undefined, report: () => void = () => undefined): void {
  let failed = false;
  afterEach(({ task }) => {
    if (task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    try {
      if (failed) console.log(logTails(current()));
      report();
    } finally {
      await destroyCluster(current());
    }
  });
}

/**
 * Stops every process the helpers started and every postmaster under `root`, and removes `root`.
 * The groups get SIGKILL, not SIGTERM: the cluster is thrown away, and a graceful stop only costs time
 * (Patroni retries the etcd stopping beside it for retry_timeout to release its keys, etcd hands its
 * leadership over and waits for peers that are gone: 7 s together). The postmasters (their own
 * session) get SIGQUIT, an immediate shutdown that still releases their shared memory.
 */
export async function destroyCluster(cluster: NativeCluster | undefined): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  const deadline = Date.now() + 20_000;
  if (cluster) {
    for (const member of cluster.members) {
      const pid = postmasterPid(member);
      if (alive(pid)) {
        try {
          process.kill(pid as number, 'SIGQUIT');
        } catch {
          // gone already
        }
      }
    }
  }
  while (Date.now() < deadline && strays().length > 0) await new Promise((r) => setTimeout(r, 200));
  for (const pid of strays()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

/** Processes still running from the test's folders (postmasters and their children, etcd, patroni, haproxy). */
function strays(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (roots.some((root) => cmdline.includes(root))) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
