import { statfsSync } from 'node:fs';
import { OperationError } from '../errors.js';

export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

function mib(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}

/** Stops before dumping when the target has less than databaseSize × factor free. */
export function checkFreeSpace(dir: string, databaseSize: number, factor: number): { free: number; needed: number } {
  const free = freeBytes(dir);
  const needed = Math.ceil(databaseSize * factor);
  if (free < needed)
    throw new OperationError(
      `only ${mib(free)} free in ${dir}, the backup needs ${mib(needed)} (database size ${mib(databaseSize)} × BACKUP_SPACE_FACTOR ${factor}).`,
      'free space, move BACKUP_DIR to a larger disk or lower BACKUP_SPACE_FACTOR',
    );
  return { free, needed };
}
