/**
 * Artifact names carry the UTC start time, so retention and --latest work
 * from names alone: <db>-20261231T020000Z.dump[.age].
 */
const STAMP_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export function utcStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function parseStamp(stamp: string): Date | undefined {
  const m = STAMP_RE.exec(stamp);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const date = new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
  return utcStamp(date) === stamp ? date : undefined;
}

/**
 * A start time whose artifact name is still free. A run that starts in the same second as the
 * last one (a manual run right after cron) waits for the next second; undefined if the clock
 * does not move on.
 */
export async function freeSecond(start: Date, taken: (time: Date) => boolean, now: () => Date): Promise<Date | undefined> {
  let time = start;
  for (let waits = 0; taken(time); waits++) {
    if (waits === 2) return undefined;
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    time = now();
  }
  return time;
}

export function dumpName(database: string, started: Date, encrypted: boolean): string {
  return `${database}-${utcStamp(started)}.dump${encrypted ? '.age' : ''}`;
}

export interface ParsedDumpName {
  database: string;
  time: Date;
  encrypted: boolean;
}

const DUMP_RE = /^([a-z_][a-z0-9_]*)-(\d{8}T\d{6}Z)\.dump(\.age)?$/;

export function parseDumpName(name: string): ParsedDumpName | undefined {
  const m = DUMP_RE.exec(name);
  if (!m) return undefined;
  const time = parseStamp(m[2] as string);
  return time ? { database: m[1] as string, time, encrypted: m[3] !== undefined } : undefined;
}

export const PARTIAL_SUFFIX = '.partial';
export const MANIFEST_SUFFIX = '.json';
