/**
 * Yesterday (UTC) at a time of day, e.g. yesterdayAt('14:58:30'). Tests simulate trading at fixed
 * times of day, but never on a fixed date: the market topics keep records for days (ticks 7), and a
 * run dated before that had its segments deleted by the broker's retention check in mid-test (the
 * slice and crash tests' flakes once the calendar passed their dates).
 */
export function yesterdayAt(timeOfDay: string): Date {
  const m = /^(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?$/.exec(timeOfDay);
  if (!m) throw new Error(`not a time of day: ${timeOfDay}`);
  const midnight = (Math.floor(Date.now() / 86_400_000) - 1) * 86_400_000;
  return new Date(midnight + ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1000 + Number((m[4] ?? '0').padEnd(3, '0')));
}
