import { describe, expect, it } from 'vitest';
import { freeSecond, utcStamp } from '../../scripts/lib/backup/naming.js';
import { planRetention, type RetentionPolicy } from '../../scripts/lib/backup/retention.js';

interface Run {
  time: Date;
}

const at = (iso: string): Run => ({ time: new Date(iso) });
const stamps = (runs: Run[]) => runs.map((r) => utcStamp(r.time));
const DEFAULT: RetentionPolicy = { days: 7, weeks: 4, months: 6 };

/**
 * Simulated calendar: a nightly run at 02:00 UTC from 2025-11-20 to
 * 2027-01-03 (410 days, across two year ends and the 53-week ISO year 2026),
 * with gaps (2026-11-10..30 and 2026-12-30..31) and a manual extra run on
 * 2027-01-02 14:00. Retention runs after every backup, as backup-db.ts does.
 */
function simulate(policy: RetentionPolicy): Run[] {
  let kept: Run[] = [];
  const skip = (day: string) => (day >= '2026-11-10' && day <= '2026-11-30') || day === '2026-12-30' || day === '2026-12-31';
  for (let t = Date.UTC(2025, 10, 20, 2); t <= Date.UTC(2027, 0, 3, 2); t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (skip(day)) continue;
    const runs = [new Date(t), ...(day === '2027-01-02' ? [new Date(t + 12 * 3_600_000)] : [])];
    for (const time of runs) {
      kept = planRetention([...kept, { time }], policy, time).keep;
    }
  }
  return kept;
}

describe('retention on a simulated calendar', () => {
  it('keeps exactly the newest backup of the last 7 days, 4 ISO weeks and 6 months', () => {
    expect(stamps(simulate(DEFAULT))).toEqual([
      '20260831T020000Z', // month August
      '20260930T020000Z', // month September
      '20261031T020000Z', // month October
      '20261109T020000Z', // month November: its last backup before the gap
      '20261213T020000Z', // ISO week 2026-W50 (Sunday)
      '20261220T020000Z', // ISO week 2026-W51
      '20261227T020000Z', // ISO week 2026-W52
      '20261228T020000Z', // days: 12-28 .. 01-03, without the missing 12-30 and 12-31
      '20261229T020000Z', // also December's newest
      '20270101T020000Z', // in 2026-W53 although it is 2027
      '20270102T140000Z', // the manual run replaces that day's 02:00 run
      '20270103T020000Z', // today; also week 2026-W53 and January
    ]);
  });

  it('keeps every day, week and month window without gaps in one pass', () => {
    const all: Run[] = [];
    for (let t = Date.UTC(2025, 10, 20, 2); t <= Date.UTC(2027, 0, 3, 2); t += 86_400_000) all.push({ time: new Date(t) });
    const once = planRetention(all, DEFAULT, new Date(Date.UTC(2027, 0, 3, 2)));
    expect(once.keep.length + once.remove.length).toBe(all.length);
    expect(stamps(once.keep)).toEqual([
      '20260831T020000Z',
      '20260930T020000Z',
      '20261031T020000Z',
      '20261130T020000Z',
      '20261213T020000Z',
      '20261220T020000Z',
      '20261227T020000Z',
      '20261228T020000Z',
      '20261229T020000Z',
      '20261230T020000Z',
      '20261231T020000Z',
      '20270101T020000Z',
      '20270102T020000Z',
      '20270103T020000Z',
    ]);
  });

  it('never deletes the newest backup, even when every window is empty', () => {
    const runs = [at('2026-01-05T02:00:00Z'), at('2026-02-01T02:00:00Z'), at('2026-03-01T02:00:00Z')];
    const plan = planRetention(runs, DEFAULT, new Date('2027-06-01T00:00:00Z'));
    expect(stamps(plan.keep)).toEqual(['20260301T020000Z']);
    expect(stamps(plan.remove)).toEqual(['20260105T020000Z', '20260201T020000Z']);
    expect(stamps(planRetention(runs, { days: 0, weeks: 0, months: 0 }, new Date('2026-03-01T03:00:00Z')).keep)).toEqual(['20260301T020000Z']);
  });

  it('treats the ISO week across a year end as one week', () => {
    // 2024-12-30 (Monday) and 2025-01-05 (Sunday) are both in ISO week 2025-W01.
    const runs = [at('2024-12-29T02:00:00Z'), at('2024-12-30T02:00:00Z'), at('2025-01-05T02:00:00Z'), at('2025-01-06T02:00:00Z')];
    const plan = planRetention(runs, { days: 0, weeks: 2, months: 0 }, new Date('2025-01-06T03:00:00Z'));
    expect(stamps(plan.keep)).toEqual(['20250105T020000Z', '20250106T020000Z']);
  });
});

describe('artifact names of runs that start in the same second', () => {
  it('keeps a free start time as it is', async () => {
    const start = new Date('2026-11-30T02:00:00.400Z');
    expect(
      await freeSecond(
        start,
        () => false,
        () => new Date(),
      ),
    ).toBe(start);
  });

  it('waits for the next second when the name is taken (a manual run right after cron)', async () => {
    const start = new Date();
    const taken = new Set([utcStamp(start)]);
    const free = await freeSecond(
      start,
      (time) => taken.has(utcStamp(time)),
      () => new Date(),
    );
    expect(free).toBeDefined();
    expect(utcStamp(free as Date)).not.toBe(utcStamp(start));
    expect((free as Date).getTime()).toBeGreaterThan(start.getTime());
  });

  it('gives up when the clock does not move on', async () => {
    const stuck = new Date('2026-11-30T02:00:00Z');
    expect(
      await freeSecond(
        stuck,
        () => true,
        () => stuck,
      ),
    ).toBeUndefined();
  });
});
