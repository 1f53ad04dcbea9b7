/**
 * Grandfather-father-son retention on the UTC timestamps in the names: keep
 * the newest backup of each of the last `days` calendar days, `weeks` ISO
 * weeks and `months` months (each window ends at `now`), and always the
 * newest backup overall, so a long outage never leaves zero backups.
 */
export interface RetentionPolicy {
  days: number;
  weeks: number;
  months: number;
}

export interface Dated {
  time: Date;
}

export interface RetentionPlan<T extends Dated> {
  keep: T[];
  remove: T[];
}

const DAY_MS = 86_400_000;

function dayNumber(date: Date): number {
  return Math.floor(date.getTime() / DAY_MS);
}

/** Day number of the Monday that starts the ISO week of `date`. */
function isoWeekStart(date: Date): number {
  const day = dayNumber(date);
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  return day - weekday;
}

function monthNumber(date: Date): number {
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

/** `backups` are all verified; the result partitions them, both lists oldest first. */
export function planRetention<T extends Dated>(backups: T[], policy: RetentionPolicy, now: Date): RetentionPlan<T> {
  const sorted = [...backups].sort((a, b) => a.time.getTime() - b.time.getTime());
  const keep = new Set<T>();
  const newest = sorted.at(-1);
  if (newest) keep.add(newest);

  const rules: { count: number; bucket: (d: Date) => number; step: number }[] = [
    { count: policy.days, bucket: dayNumber, step: 1 },
    { count: policy.weeks, bucket: isoWeekStart, step: 7 },
    { count: policy.months, bucket: monthNumber, step: 1 },
  ];
  for (const rule of rules) {
    if (rule.count <= 0) continue;
    const current = rule.bucket(now);
    const oldest = current - (rule.count - 1) * rule.step;
    const newestPerBucket = new Map<number, T>();
    for (const backup of sorted) {
      const bucket = rule.bucket(backup.time);
      if (bucket >= oldest && bucket <= current) newestPerBucket.set(bucket, backup);
    }
    for (const backup of newestPerBucket.values()) keep.add(backup);
  }
  return { keep: sorted.filter((b) => keep.has(b)), remove: sorted.filter((b) => !keep.has(b)) };
}
