import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * Each private dockerd a test run starts (test/e2e/harness/dockerd.ts) records
 * itself in the run's private TMPDIR, so the run's teardown (test/leftovers.ts)
 * judges the folders, bridges and addresses of its own daemons only: another
 * suite's daemons on the same machine are none of its business.
 */
export interface DockerdRecord {
  pid: number;
  /** Its folder (/tmp/hm-e2e-*): data root, exec root, socket; removed when it stops. */
  root: string;
  /** Its --default-address-pool: a /20 of 198.18.0.0/16 that every network of it comes from. */
  pool: string;
  /** The bridges of its networks, listed when it was told to stop. */
  bridges: string[];
}

const RECORDS = 'dockerds';

export function writeDockerdRecord(record: DockerdRecord, tmp = tmpdir()): void {
  const dir = join(tmp, RECORDS);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${basename(record.root)}.json`), `${JSON.stringify(record)}\n`);
}

export function dockerdRecords(tmp: string): DockerdRecord[] {
  const dir = join(tmp, RECORDS);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as DockerdRecord);
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
