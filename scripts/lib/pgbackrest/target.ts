import { BadInputError } from '../errors.js';

/** Where a restore stops: a point in time, the end of the archive, or the end of the backup (consistency only). */
export type RestoreTarget = { kind: 'time'; instant: Date; postgres: string } | { kind: 'latest' } | { kind: 'immediate' };

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A real RFC 3339 instant with an explicit zone, so "14:00" cannot mean two
 * instants: the calendar date must exist (2026-02-30 is refused, where a JS
 * Date would roll it over to March) and the instant must not be in the future.
 */
export function parseRecoveryTime(text: string, now = new Date()): { instant: Date; postgres: string } {
  const m = RFC3339.exec(text);
  const refuse = (why: string) => new BadInputError(`--to "${text}" ${why}; pass an RFC 3339 time with a zone such as 2026-12-31T14:05:00Z.`);
  if (!m) throw refuse('is not an RFC 3339 timestamp with a time zone');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) throw refuse('names a day that does not exist');
  if (hour > 23 || minute > 59 || second > 59) throw refuse('names a time of day that does not exist');
  const zone = (m[8] as string).toUpperCase();
  if (zone !== 'Z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59)) throw refuse('has an impossible zone offset');
  const instant = new Date(text.replace(' ', 'T'));
  if (Number.isNaN(instant.getTime())) throw refuse('is not a valid instant');
  if (instant.getTime() > now.getTime())
    throw new BadInputError(`--to ${text} is in the future (now is ${now.toISOString()}); nothing can be recovered there yet.`);
  // PostgreSQL's input syntax keeps the microseconds a JS Date would drop.
  const postgres = `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}${zone === 'Z' ? '+00' : zone}`;
  return { instant, postgres };
}

/** Exactly one of --to, --latest, --immediate. */
export function restoreTarget(
  flags: { to?: string | undefined; latest?: boolean | undefined; immediate?: boolean | undefined },
  now = new Date(),
): RestoreTarget {
  const given = [flags.to !== undefined && '--to', flags.latest === true && '--latest', flags.immediate === true && '--immediate'].filter(Boolean);
  if (given.length !== 1)
    throw new BadInputError(
      given.length === 0
        ? 'say where recovery stops: --to <time>, --latest (all archived WAL) or --immediate (the end of the backup).'
        : `${given.join(' and ')} exclude each other; pass exactly one.`,
    );
  if (flags.latest) return { kind: 'latest' };
  if (flags.immediate) return { kind: 'immediate' };
  return { kind: 'time', ...parseRecoveryTime(flags.to as string, now) };
}

/** pgBackRest restore options for a target; a recovered cluster always promotes (opens read-write). */
export function targetArgs(target: RestoreTarget): string[] {
  switch (target.kind) {
    case 'time':
      return ['--type=time', `--target=${target.postgres}`, '--target-action=promote'];
    case 'immediate':
      return ['--type=immediate', '--target-action=promote'];
    case 'latest':
      // type=default replays to the end of the archive and promotes by itself.
      return ['--type=default'];
  }
}

export function describeTarget(target: RestoreTarget): string {
  if (target.kind === 'time') return `the state at ${target.postgres}`;
  return target.kind === 'latest' ? 'the last archived WAL' : 'the end of the newest backup';
}
