import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * What the e2e harness makes outside the run's TMPDIR (a private dockerd:
 * test/e2e/harness/dockerd.ts; a set of hosts: test/e2e/harness/hosts.ts) is
 * recorded in that TMPDIR, so the run's teardown (test/leftovers.ts) judges
 * the folders, bridges, addresses and namespaces of its own harness only:
 * another suite's on the same machine are none of its business.
 */
export interface DockerdRecord {
  pid: number;
  /** Its folder (/tmp/hm-e2e-*): data root, exec root, socket; removed when it stops. */
  root: string;
  /** Its --default-address-pool: a /20 of 198.18.0.0/16 that every network of it comes from. */
  pool: string;
  /**
   * The bridges of its networks, listed when it was told to stop. Absent when it never was (killed
   * with its test process, or not answering): then a bridge with an address in its pool counts as
   * its own, though another suite's daemon may have drawn the same slice.
   */
  bridges?: string[];
}

/** The e2e hosts' parts in the root namespace, named before any is made (their names are unique to the run). */
export interface HostsRecord {
  /** Its folder (/tmp/hm-e2e-*): the hosts' disks, engines and keys. */
  root: string;
  /** The switch: a bridge holding the hosts' /24 of 198.19.0.0/16. */
  bridge: string;
  /** The hosts' network namespaces. */
  netns: string[];
  /** The root-namespace ends of the hosts' veth pairs. */
  links: string[];
}

const DOCKERDS = 'dockerds';
const HOSTS = 'hosts';

function writeRecord(kind: string, root: string, record: object, tmp: string): void {
  const dir = join(tmp, kind);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${basename(root)}.json`), `${JSON.stringify(record)}\n`);
}

function records<T>(kind: string, tmp: string): T[] {
  const dir = join(tmp, kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T);
}

export function writeDockerdRecord(record: DockerdRecord, tmp = tmpdir()): void {
  writeRecord(DOCKERDS, record.root, record, tmp);
}

export function dockerdRecords(tmp: string): DockerdRecord[] {
  return records<DockerdRecord>(DOCKERDS, tmp);
}

export function writeHostsRecord(record: HostsRecord, tmp = tmpdir()): void {
  writeRecord(HOSTS, record.root, record, tmp);
}

export function hostsRecords(tmp: string): HostsRecord[] {
  return records<HostsRecord>(HOSTS, tmp);
}

function ipv4(text: string): number {
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

/** Whether an IPv4 address (a prefix length after it is ignored) lies in a CIDR pool such as 198.18.32.0/20. */
export function inPool(address: string, pool: string): boolean {
  const [base, bits] = pool.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = ipv4(base) - (ipv4(base) % size);
  const value = ipv4(address.split('/')[0] as string);
  return value >= start && value < start + size;
}
