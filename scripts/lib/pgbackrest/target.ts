import type { DateTime } from '../cli/kinds.js';

/** Where a restore stops: a point in time, the end of the archive, or the end of the backup (consistency only). */
export type RestoreTarget = { kind: 'time'; instant: Date; postgres: string } | { kind: 'latest' } | { kind: 'immediate' };

/**
 * The target from the checked options (--to a real past instant with a zone;
 * the spec lets at most one of --to, --latest, --immediate through): the end
 * of the archive when neither --to nor --immediate is given.
 */
export function restoreTarget(given: { to?: DateTime | undefined; immediate?: boolean | undefined }): RestoreTarget {
  if (given.to) return { kind: 'time', instant: given.to.instant, postgres: given.to.sql };
  return given.immediate ? { kind: 'immediate' } : { kind: 'latest' };
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
