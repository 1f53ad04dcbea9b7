import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type DockerdRecord, dockerdRecords, type HostsRecord, hostsRecords, inPool } from './helpers/harness-records.js';

/**
 * Vitest globalSetup for both projects: the run gets a private TMPDIR, and its
 * teardown fails the run when the run's tests left behind a healthmate-* or
 * hm-e2e-* folder in it, or when the run's e2e harness left something outside
 * it (each private dockerd and each set of e2e hosts records itself in the
 * TMPDIR: test/helpers/harness-records.ts): a daemon's folder, a bridge or an
 * address of its pool; the hosts' folder, switch, network namespaces or links.
 * What other processes on the machine create meanwhile (another suite's
 * daemons and hosts) is not this run's to judge, and what existed before the
 * run does not count.
 */

const SYSTEM_TMP = '/tmp';
const OUR_FOLDER = /^(healthmate-|hm-e2e-)/;

interface Snapshot {
  bridges: string[];
  /** [address with prefix length, device] in 198.18.0.0/16, the range of the private daemons' pools. */
  addresses: [string, string][];
  /** Every link's name (the e2e hosts' switch and veth ends among them) and network namespace. */
  links: string[];
  namespaces: string[];
}

function lines(command: string, args: string[]): string[] {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  return result.status === 0 ? result.stdout.split('\n').filter(Boolean) : [];
}

function snapshot(): Snapshot {
  return {
    bridges: lines('ip', ['-o', 'link', 'show', 'type', 'bridge'])
      .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((name) => name.startsWith('br-')),
    addresses: lines('ip', ['-o', '-4', 'addr', 'show'])
      .map((l) => /^\d+:\s+(\S+)\s+inet\s+(198\.18\.\d+\.\d+\/\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[2] as string, m[1] as string]),
    links: lines('ip', ['-o', 'link', 'show']).map((l) => l.split(':')[1]?.trim().split('@')[0] ?? ''),
    namespaces: lines('ip', ['netns', 'list']).map((l) => l.split(' ')[0] ?? ''),
  };
}

/** What this run's daemons and hosts left behind that was not there before the run. */
function harnessLeftovers(daemons: DockerdRecord[], hosts: HostsRecord[], before: Snapshot): string[] {
  const after = snapshot();
  const problems: string[] = [];
  // A daemon that listed its bridges at stop owns those; one that never did, what lies in its pool (another
  // suite's daemon may draw the same slice while none of its networks is up, so the list is what counts).
  const owner = (device: string, address?: string) =>
    daemons.find((d) => d.bridges?.includes(device)) ?? daemons.find((d) => d.bridges === undefined && address !== undefined && inPool(address, d.pool));
  for (const daemon of daemons) if (existsSync(daemon.root)) problems.push(`temp folder ${daemon.root} (the private dockerd's own)`);
  for (const bridge of after.bridges.filter((b) => !before.bridges.includes(b))) {
    const daemon = owner(bridge, after.addresses.find(([, device]) => device === bridge)?.[0]);
    if (daemon) problems.push(`bridge ${bridge} (of the private dockerd in ${daemon.root})`);
  }
  const seen = new Set(before.addresses.map(([address, device]) => `${address} ${device}`));
  for (const [address, device] of after.addresses.filter(([a, d]) => !seen.has(`${a} ${d}`))) {
    const daemon = owner(device, address);
    if (daemon) problems.push(`address ${address} on ${device} (pool ${daemon.pool} of the private dockerd in ${daemon.root})`);
  }
  // The hosts' names are unique to the run (they carry its folder's random part): what is there is theirs.
  for (const set of hosts) {
    if (existsSync(set.root)) problems.push(`temp folder ${set.root} (the e2e hosts' own)`);
    for (const link of [set.bridge, ...set.links].filter((l) => after.links.includes(l))) problems.push(`link ${link} (of the e2e hosts in ${set.root})`);
    for (const netns of set.netns.filter((n) => after.namespaces.includes(n))) problems.push(`network namespace ${netns} (of the e2e hosts in ${set.root})`);
  }
  return problems;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default function setup(): () => Promise<void> {
  const before = snapshot();
  const savedTmp = process.env.TMPDIR;
  // Short name: unix sockets (PostgreSQL, sshd) live below it and must stay under 108 bytes.
  const privateTmp = mkdtempSync(join(SYSTEM_TMP, 'vt-'));
  // Like /tmp: services the tests start as other users (postgres) must reach their folders below it.
  chmodSync(privateTmp, 0o1777);
  process.env.TMPDIR = privateTmp;
  return async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    const daemons = dockerdRecords(privateTmp);
    const hosts = hostsRecords(privateTmp);
    const folders = readdirSync(privateTmp)
      .filter((name) => OUR_FOLDER.test(name))
      .map((name) => `temp folder ${join(privateTmp, name)}`);
    // A daemon still shutting down takes its bridges and addresses away as it goes: wait for it to end.
    let problems = harnessLeftovers(daemons, hosts, before);
    const deadline = Date.now() + 180_000;
    while (problems.some((p) => !p.startsWith('temp folder')) && daemons.some((d) => alive(d.pid)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      problems = harnessLeftovers(daemons, hosts, before);
    }
    problems = [...folders, ...problems];
    rmSync(privateTmp, { recursive: true, force: true });
    if (problems.length === 0) return;
    // Vitest reports a teardown error but keeps exit code 0: set it, so the run fails.
    process.exitCode = 1;
    throw new Error(`the test run left behind:\n  ${problems.join('\n  ')}\nfix the test that made them (what was under the run's TMPDIR is removed now).`);
  };
}
